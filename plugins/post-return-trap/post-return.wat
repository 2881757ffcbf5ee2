;; post-return-trap: a mapper component (the `plugin` world of
;; wit/sandmap.wit) whose `map` returns its input unchanged, and whose
;; post-return function (`cabi_post_map`, which the host calls after it
;; has read the result) traps. It attacks the promise that a broken
;; instance never serves another record: after the trap, wasmtime refuses
;; to enter the instance again ("cannot enter component instance"), so a
;; correct sandmap fails (or keeps) that record and runs the next one on
;; a fresh instance; every record then gets the same outcome, whatever
;; `-j` or `--isolate`. It imports nothing.
(component
  (core module $m
    (memory (export "memory") 1)

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
      (i32.const 16))

    (func (export "cabi_post_map") (param i32)
      unreachable))

  (core instance $i (instantiate $m))

  (func $map (param "input" (list u8)) (result (result (list u8) (error string)))
    (canon lift (core func $i "map")
      (memory (core memory $i "memory"))
      (realloc (core func $i "cabi_realloc"))
      (post-return (core func $i "cabi_post_map"))))
  (instance $mapper (export "map" (func $map)))
  (export "sandmap:plugin/mapper@0.1.0" (instance $mapper)))
