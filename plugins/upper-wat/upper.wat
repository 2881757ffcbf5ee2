;; upper-wat: the `upper` mapper written by hand in WebAssembly text, so that
;; tests have a mapper plugin that needs no toolchain (wasmtime compiles
;; `.wat` directly). It implements the `plugin` world of wit/sandmap.wit:
;; each record comes back with ASCII a-z uppercased, and an empty record
;; fails with err "empty record". It imports nothing.
;;
;; Canonical ABI of `map: func(input: list<u8>) -> result<list<u8>, string>`:
;; the core function takes (ptr, len) of the input, which the host has
;; written into memory obtained from `cabi_realloc`, and returns a pointer
;; to a 12-byte return area: discriminant (u8, 0 = ok, 1 = err) at +0,
;; payload pointer at +4, payload length at +8.
(component
  (core module $m
    (memory (export "memory") 1)

    ;; Layout: return area at 16, the error message at 32, heap from 1024.
    (global $heap-base i32 (i32.const 1024))
    (global $bump (mut i32) (i32.const 1024))
    (data (i32.const 32) "empty record")

    ;; A bump allocator that grows memory as needed. Nothing is freed one
    ;; by one: `cabi_post_map` resets the heap after every call, once the
    ;; host has copied the result out, so any number of calls fits.
    (func (export "cabi_realloc")
      (param $old-ptr i32) (param $old-size i32) (param $align i32) (param $new-size i32)
      (result i32)
      (local $ptr i32) (local $end i32) (local $have i32)
      ;; ptr = align_up(bump, align); end = ptr + new_size
      (local.set $ptr
        (i32.and
          (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (local.set $end (i32.add (local.get $ptr) (local.get $new-size)))
      (if (i32.lt_u (local.get $end) (local.get $ptr)) (then unreachable))
      ;; grow memory by whole pages until `end` fits
      (local.set $have (i32.shl (memory.size) (i32.const 16)))
      (if (i32.gt_u (local.get $end) (local.get $have))
        (then
          (if (i32.eq
                (memory.grow
                  (i32.shr_u
                    (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 0xffff))
                    (i32.const 16)))
                (i32.const -1))
            (then unreachable))))
      ;; a reallocation keeps the old contents
      (if (local.get $old-ptr)
        (then
          (memory.copy (local.get $ptr) (local.get $old-ptr)
            (select (local.get $old-size) (local.get $new-size)
              (i32.lt_u (local.get $old-size) (local.get $new-size))))))
      (global.set $bump (local.get $end))
      (local.get $ptr))

    (func (export "map") (param $ptr i32) (param $len i32) (result i32)
      (local $i i32) (local $c i32)
      (if (i32.eqz (local.get $len))
        (then
          (i32.store8 (i32.const 16) (i32.const 1))
          (i32.store (i32.const 20) (i32.const 32))
          (i32.store (i32.const 24) (i32.const 12))
          (return (i32.const 16))))
      ;; uppercase in place: the output is the input buffer
      (block $done
        (loop $next
          (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
          (local.set $c (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
          (if (i32.le_u (i32.sub (local.get $c) (i32.const 0x61)) (i32.const 25))
            (then
              (i32.store8 (i32.add (local.get $ptr) (local.get $i))
                (i32.sub (local.get $c) (i32.const 0x20)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (local.get $ptr))
      (i32.store (i32.const 24) (local.get $len))
      (i32.const 16))

    ;; Called by the host after it has read the result: free everything.
    (func (export "cabi_post_map") (param i32)
      (global.set $bump (global.get $heap-base))))

  (core instance $i (instantiate $m))

  (func $map
    (param "input" (list u8))
    (result (result (list u8) (error string)))
    (canon lift (core func $i "map")
      (memory (core memory $i "memory"))
      (realloc (core func $i "cabi_realloc"))
      (post-return (core func $i "cabi_post_map"))))

  (instance $mapper (export "map" (func $map)))
  (export "sandmap:plugin/mapper@0.1.0" (instance $mapper)))
