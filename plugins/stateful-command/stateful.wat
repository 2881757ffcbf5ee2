;; stateful-command: a command that tries to carry state from one record to
;; the next, to prove that each record starts from a fresh instance's state
;; even when sandmap keeps the instance between records.
;;
;; `_start` first reports what it finds, as one line on stdout and stderr:
;;   <calls><data><pages><size>:<record>
;; (the record cut at 2039 bytes: the rest is left unread)
;; where <calls> is '0' + a mutable global it increments (not exported),
;; <data> the five bytes at address 16 (the data segment says "fresh"),
;; <pages> '0' + the OR of one byte on each of 72 pages it sets, and <size>
;; '0' + memory.size in pages (9). A fresh state reads "0fresh09:".
;; Then it changes all of that: the global, the data ("stale"), a byte on
;; every other 4 KiB page of the memory (72 separate runs of pages, more
;; than sandmap's page scan takes in one call), and,
;; by the record's first byte:
;;   'g' grows the memory by a page, 'x' exits with status 3,
;;   'e' exits with status 0, 't' traps, 's' spins for ever; anything else
;;   returns.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit"
    (func $proc_exit (param i32)))

  (memory (export "memory") 9)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 16) "fresh")

  ;; Layout: iovec at 0, count at 8, data at 16, the line from 1024 (8
  ;; report bytes, ':', then the record, up to 2048 bytes).
  (func (export "_start")
    (local $n i32) (local $len i32) (local $i i32) (local $seen i32)
    ;; report
    (i32.store8 (i32.const 1024) (i32.add (i32.const 48) (global.get $calls)))
    (memory.copy (i32.const 1025) (i32.const 16) (i32.const 5))
    (local.set $i (i32.const 0))
    (loop $scan
      (local.set $seen (i32.or (local.get $seen)
        (i32.load8_u (i32.add (i32.const 100) (i32.mul (local.get $i) (i32.const 8192))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $scan (i32.lt_u (local.get $i) (i32.const 72))))
    (i32.store8 (i32.const 1030) (i32.add (i32.const 48) (local.get $seen)))
    (i32.store8 (i32.const 1031) (i32.add (i32.const 48) (memory.size)))
    (i32.store8 (i32.const 1032) (i32.const 58))
    ;; the record after the report
    (local.set $len (i32.const 9))
    (loop $read
      (i32.store (i32.const 0) (i32.add (i32.const 1024) (local.get $len)))
      (i32.store (i32.const 4) (i32.sub (i32.const 2048) (local.get $len)))
      (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8))
        (then unreachable))
      (local.set $n (i32.load (i32.const 8)))
      (local.set $len (i32.add (local.get $len) (local.get $n)))
      (br_if $read (i32.and (i32.ne (local.get $n) (i32.const 0))
                            (i32.lt_u (local.get $len) (i32.const 2048)))))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then unreachable))
    ;; the same line on stderr, which a failed record's error ends with
    (if (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8))
      (then unreachable))
    ;; change everything
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store8 (i32.const 16) (i32.const 115))
    (i32.store (i32.const 17) (i32.const 0x656c6174))
    (local.set $i (i32.const 0))
    (loop $dirty
      (i32.store8 (i32.add (i32.const 100) (i32.mul (local.get $i) (i32.const 8192)))
        (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $dirty (i32.lt_u (local.get $i) (i32.const 72))))
    (block $done
      (br_if $done (i32.eqz (local.get $len)))
      (local.set $n (i32.load8_u (i32.const 1033)))
      (if (i32.eq (local.get $n) (i32.const 103))
        (then (drop (memory.grow (i32.const 1)))))
      (if (i32.eq (local.get $n) (i32.const 120))
        (then (call $proc_exit (i32.const 3))))
      (if (i32.eq (local.get $n) (i32.const 101))
        (then (call $proc_exit (i32.const 0))))
      (if (i32.eq (local.get $n) (i32.const 116))
        (then unreachable))
      (if (i32.eq (local.get $n) (i32.const 115))
        (then (loop $spin (br $spin))))))
)
