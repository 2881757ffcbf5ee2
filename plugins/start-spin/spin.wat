;; start-spin: a mapper component (the `plugin` world of wit/sandmap.wit)
;; whose core module has a start function that loops forever, pure
;; compute with no host call, so that instantiating it never ends. It
;; attacks the promise that `--fuel`, `--timeout` and Ctrl-C stop a record
;; wherever it is, here while its instance starts, before any `map` call.
;; `map`, which no record should reach, returns its input unchanged. It
;; imports nothing.
(component
  (core module $m
    (memory (export "memory") 1)

    ;; Runs while the component is instantiated, and never returns.
    (func $spin
      (loop $forever (br $forever)))
    (start $spin)

    ;; The input is the one allocation of a call: it always goes at 1024,
    ;; and memory grows to fit it. A refused grow traps.
    (func (export "cabi_realloc")
      (param $old i32) (param $old-size i32) (param $align i32) (param $size i32)
      (result i32)
      (local $missing i32)
      (if (i32.gt_u (local.get $size) (i32.const 0x7fff0000)) (then unreachable))
      ;; pages for 1024 + size bytes, less the pages there are
      (local.set $missing
        (i32.sub
          (i32.shr_u (i32.add (local.get $size) (i32.const 0x103ff)) (i32.const 16))
          (memory.size)))
      (if (i32.gt_s (local.get $missing) (i32.const 0))
        (then
          (if (i32.eq (memory.grow (local.get $missing)) (i32.const -1))
            (then unreachable))))
      (i32.const 1024))

    ;; ok(input): discriminant 0 at 16, pointer at 20, length at 24
    (func (export "map") (param $ptr i32) (param $len i32) (result i32)
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (local.get $ptr))
      (i32.store (i32.const 24) (local.get $len))
      (i32.const 16)))

  (core instance $i (instantiate $m))

  (func $map (param "input" (list u8)) (result (result (list u8) (error string)))
    (canon lift (core func $i "map")
      (memory (core memory $i "memory"))
      (realloc (core func $i "cabi_realloc"))))
  (instance $mapper (export "map" (func $map)))
  (export "sandmap:plugin/mapper@0.1.0" (instance $mapper)))
