;; stateful-mapper: a mapper that tries to carry state from one record to
;; the next, to prove that with `--isolate` each record starts from a fresh
;; instance's state even when sandmap keeps the instance between records.
;;
;; `map` returns what it finds, then the record:
;;   <calls><data><pages><size>:<record>
;; where <calls> is '0' + a mutable global it increments (not exported),
;; <data> the five bytes at address 16 (the data segment says "fresh"),
;; <pages> '0' + the OR of one byte on each of 72 pages it sets, and <size>
;; '0' + memory.size in pages (9). A fresh state reads "0fresh09:".
;; Then it changes all of that: the global, the data ("stale"), a byte on
;; every other 4 KiB page of the memory (72 separate runs of pages), and,
;; by the record's first byte:
;;   'g' grows the memory by a page, 't' traps, 'e' fails with err "no"
;;   (the instance stays usable), 's' spins for ever, 'h' takes a handle to
;;   stdout from the host and keeps it (state the host holds for the
;;   instance), 'd' takes one and drops it at once; anything else returns
;;   ok.
;; Records must be shorter than 2,000 bytes.
(component
  (import "wasi:io/streams@0.2.6" (instance $streams
    (export "output-stream" (type (sub resource)))))
  (alias export $streams "output-stream" (type $output-stream))
  (import "wasi:cli/stdout@0.2.6" (instance $stdout
    (alias outer 1 $output-stream (type $stream))
    (export "get-stdout" (func (result (own $stream))))))
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $drop-stream (canon resource.drop $output-stream))
  (core instance $host
    (export "get-stdout" (func $get-stdout))
    (export "drop-stream" (func $drop-stream)))

  (core module $m
    (import "host" "get-stdout" (func $get-stdout (result i32)))
    (import "host" "drop-stream" (func $drop-stream (param i32)))
    (memory (export "memory") 9)
    (global $calls (mut i32) (i32.const 0))
    (global $held (mut i32) (i32.const 0))
    ;; The heap (for the input) starts at 2048; the output is built at 1024.
    (global $bump (mut i32) (i32.const 2048))
    (data (i32.const 16) "fresh")
    (data (i32.const 32) "no")

    (func (export "cabi_realloc")
      (param $old-ptr i32) (param $old-size i32) (param $align i32) (param $new-size i32)
      (result i32)
      (local $ptr i32)
      (if (i32.gt_u (local.get $new-size) (i32.const 2000)) (then unreachable))
      (local.set $ptr (global.get $bump))
      (global.set $bump (i32.add (local.get $ptr) (local.get $new-size)))
      (local.get $ptr))

    (func (export "map") (param $ptr i32) (param $len i32) (result i32)
      (local $i i32) (local $seen i32) (local $first i32)
      ;; report
      (i32.store8 (i32.const 1024) (i32.add (i32.const 48) (global.get $calls)))
      (memory.copy (i32.const 1025) (i32.const 16) (i32.const 5))
      (loop $scan
        (local.set $seen (i32.or (local.get $seen)
          (i32.load8_u (i32.add (i32.const 100) (i32.mul (local.get $i) (i32.const 8192))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $scan (i32.lt_u (local.get $i) (i32.const 72))))
      (i32.store8 (i32.const 1030) (i32.add (i32.const 48) (local.get $seen)))
      (i32.store8 (i32.const 1031) (i32.add (i32.const 48) (memory.size)))
      (i32.store8 (i32.const 1032) (i32.const 58))
      (memory.copy (i32.const 1033) (local.get $ptr) (local.get $len))
      ;; change everything
      (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
      (i32.store (i32.const 16) (i32.const 0x6c617473)) ;; "stal"
      (i32.store8 (i32.const 20) (i32.const 0x65))       ;; "e"
      (local.set $i (i32.const 0))
      (loop $dirty
        (i32.store8 (i32.add (i32.const 100) (i32.mul (local.get $i) (i32.const 8192)))
          (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $dirty (i32.lt_u (local.get $i) (i32.const 72))))
      (if (local.get $len)
        (then (local.set $first (i32.load8_u (local.get $ptr)))))
      (if (i32.eq (local.get $first) (i32.const 0x67)) ;; 'g'
        (then (drop (memory.grow (i32.const 1)))))
      (if (i32.eq (local.get $first) (i32.const 0x73)) ;; 's'
        (then (loop $spin (br $spin))))
      (if (i32.eq (local.get $first) (i32.const 0x68)) ;; 'h'
        (then (global.set $held (call $get-stdout))))
      (if (i32.eq (local.get $first) (i32.const 0x64)) ;; 'd'
        (then (call $drop-stream (call $get-stdout))))
      (if (i32.eq (local.get $first) (i32.const 0x74)) ;; 't'
        (then unreachable))
      (if (i32.eq (local.get $first) (i32.const 0x65)) ;; 'e'
        (then
          (i32.store8 (i32.const 0) (i32.const 1))
          (i32.store (i32.const 4) (i32.const 32))
          (i32.store (i32.const 8) (i32.const 2))
          (return (i32.const 0))))
      (i32.store8 (i32.const 0) (i32.const 0))
      (i32.store (i32.const 4) (i32.const 1024))
      (i32.store (i32.const 8) (i32.add (i32.const 9) (local.get $len)))
      (i32.const 0))

    ;; Called by the host after it has read the result: free the input.
    (func (export "cabi_post_map") (param i32)
      (global.set $bump (i32.const 2048))))

  (core instance $i (instantiate $m (with "host" (instance $host))))

  (func $map
    (param "input" (list u8))
    (result (result (list u8) (error string)))
    (canon lift (core func $i "map")
      (memory (core memory $i "memory"))
      (realloc (core func $i "cabi_realloc"))
      (post-return (core func $i "cabi_post_map"))))

  (instance $mapper (export "map" (func $map)))
  (export "sandmap:plugin/mapper@0.1.0" (instance $mapper)))
