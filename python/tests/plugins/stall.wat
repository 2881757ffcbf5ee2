;; stall: a mapper component (the `plugin` world of wit/sandmap.wit) for the
;; Python package's interruption tests. A record starting with `spin` loops
;; for ever in wasm; one starting with `slee` (`sleep`) blocks for an hour
;; in a WASI call (`wasi:io/poll` `block` on a monotonic-clock pollable),
;; where neither fuel nor epochs reach it; any other record comes back
;; unchanged.
(component
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

    ;; The input is the one allocation of a call: it always goes at 1024,
    ;; and memory grows to fit it. A refused grow traps.
    (func (export "cabi_realloc")
      (param $old i32) (param $old-size i32) (param $align i32) (param $size i32)
      (result i32)
      (local $missing i32)
      (if (i32.gt_u (local.get $size) (i32.const 0x7fff0000)) (then unreachable))
      (local.set $missing
        (i32.sub
          (i32.shr_u (i32.add (local.get $size) (i32.const 0x103ff)) (i32.const 16))
          (memory.size)))
      (if (i32.gt_s (local.get $missing) (i32.const 0))
        (then
          (if (i32.eq (memory.grow (local.get $missing)) (i32.const -1))
            (then unreachable))))
      (i32.const 1024))

    (func (export "map") (param $ptr i32) (param $len i32) (result i32)
      (local $head i32)
      (if (i32.ge_u (local.get $len) (i32.const 4))
        (then
          (local.set $head (i32.load (local.get $ptr)))
          ;; "spin", little-endian
          (if (i32.eq (local.get $head) (i32.const 0x6e697073))
            (then (loop $forever (br $forever))))
          ;; "slee", little-endian: one hour, in nanoseconds
          (if (i32.eq (local.get $head) (i32.const 0x65656c73))
            (then (call $block (call $subscribe (i64.const 3_600_000_000_000)))))))
      ;; ok(input): discriminant 0 at 16, pointer at 20, length at 24
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
