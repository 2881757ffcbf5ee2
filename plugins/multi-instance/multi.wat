;; multi-instance: a mapper component (the `plugin` world of
;; wit/sandmap.wit) made of seven core instances, each with its own linear
;; memory: six instances of a small module `$part`, and the main instance
;; that holds `map`. It attacks the promise that `--max-memory` caps an
;; instance as a whole, the memories of every core instance inside it
;; added up, and not each memory on its own.
;;
;; Each call of `map` makes each part grow its memory by 200 pages
;; (12.5 MiB) and write every new page, then returns `ok`. After one call
;; the component holds about 75 MiB, no memory more than 12.6 MiB: under
;; `--max-memory 32MiB` a correct sandmap fails the record as kind
;; `memory`; with no flag (1 GiB) it succeeds. The parts keep what they
;; grew, so each further call on a reused instance adds 75 MiB. A refused
;; grow traps (`unreachable`). It imports nothing.
(component
  ;; A part: one page of memory, and `grow`.
  (core module $part
    (memory 1)
    (func (export "grow")
      (local $page i32)
      (local.set $page (memory.grow (i32.const 200)))
      (if (i32.eq (local.get $page) (i32.const -1)) (then unreachable))
      ;; write one byte in each new page, so that the host commits it
      (loop $touch
        (i32.store8 (i32.shl (local.get $page) (i32.const 16)) (i32.const 1))
        (local.set $page (i32.add (local.get $page) (i32.const 1)))
        (br_if $touch (i32.lt_u (local.get $page) (memory.size))))))

  (core instance $p0 (instantiate $part))
  (core instance $p1 (instantiate $part))
  (core instance $p2 (instantiate $part))
  (core instance $p3 (instantiate $part))
  (core instance $p4 (instantiate $part))
  (core instance $p5 (instantiate $part))

  ;; The main module calls the parts' `grow` directly: core instances of
  ;; one component may import each other's core functions.
  (core module $main
    (import "p0" "grow" (func $grow0))
    (import "p1" "grow" (func $grow1))
    (import "p2" "grow" (func $grow2))
    (import "p3" "grow" (func $grow3))
    (import "p4" "grow" (func $grow4))
    (import "p5" "grow" (func $grow5))
    (memory (export "memory") 1)
    (data (i32.const 32) "ok")

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

    ;; ok("ok"): discriminant 0 at 16, pointer at 20, length at 24
    (func (export "map") (param $ptr i32) (param $len i32) (result i32)
      (call $grow0) (call $grow1) (call $grow2)
      (call $grow3) (call $grow4) (call $grow5)
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (i32.const 32))
      (i32.store (i32.const 24) (i32.const 2))
      (i32.const 16)))

  (core instance $i (instantiate $main
    (with "p0" (instance $p0)) (with "p1" (instance $p1))
    (with "p2" (instance $p2)) (with "p3" (instance $p3))
    (with "p4" (instance $p4)) (with "p5" (instance $p5))))

  (func $map (param "input" (list u8)) (result (result (list u8) (error string)))
    (canon lift (core func $i "map")
      (memory (core memory $i "memory"))
      (realloc (core func $i "cabi_realloc"))))
  (instance $mapper (export "map" (func $map)))
  (export "sandmap:plugin/mapper@0.1.0" (instance $mapper)))
