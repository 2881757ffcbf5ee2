;; block-at-start: a mapper component (the `plugin` world of
;; wit/sandmap.wit) whose core module has a start function that blocks in
;; the host for an hour, so that instantiating it never ends by itself.
;; It attacks the promise that `--timeout` and the first Ctrl-C stop a
;; record wherever it is, here while its instance starts, blocked in a
;; WASI call where neither fuel nor epochs can reach it.
;;
;; The start function calls `wasi:io/poll@0.2.0` `[method]pollable.block`
;; on `wasi:clocks/monotonic-clock@0.2.0` `subscribe-duration(1 hour)`.
;; `map`, which no record should reach, returns its input unchanged.
(component
  ;; Only the parts of the two WASI interfaces that are used: a component
  ;; may import less than the host offers.
  (import "wasi:io/poll@0.2.0" (instance $poll
    (export "pollable" (type (sub resource)))
    (export "[method]pollable.block" (func (param "self" (borrow 0))))))
  (alias export $poll "pollable" (type $pollable))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock
    (alias outer 1 $pollable (type))
    (export "pollable" (type (eq 0)))
    (export "subscribe-duration" (func (param "when" u64) (result (own 1))))))

  (core func $subscribe (canon lower (func $clock "subscribe-duration")))
  (core func $block (canon lower (func $poll "[method]pollable.block")))

  (core module $m
    (import "host" "subscribe-duration" (func $subscribe (param i64) (result i32)))
    (import "host" "block" (func $block (param i32)))
    (memory (export "memory") 1)

    ;; Runs while the component is instantiated: waits one hour (in ns).
    (func $wait
      (call $block (call $subscribe (i64.const 3_600_000_000_000))))
    (start $wait)

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

  (core instance $i (instantiate $m
    (with "host" (instance
      (export "subscribe-duration" (func $subscribe))
      (export "block" (func $block))))))

  (func $map (param "input" (list u8)) (result (result (list u8) (error string)))
    (canon lift (core func $i "map")
      (memory (core memory $i "memory"))
      (realloc (core func $i "cabi_realloc"))))
  (instance $mapper (export "map" (func $map)))
  (export "sandmap:plugin/mapper@0.1.0" (instance $mapper)))
