;; echo-wat: a command plugin written by hand in WebAssembly text, so that
;; tests have a command that needs no toolchain. A WASI preview 1 core
;; module (not a component): `_start` copies stdin (fd 0) to stdout (fd 1)
;; until end of file. A failed read or write traps.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 2)

  ;; Layout: read iovec at 0, bytes read at 8, write iovec at 16, bytes
  ;; written at 24, and a 64 KiB buffer from 65536.
  (global $buf i32 (i32.const 65536))
  (global $buf-len i32 (i32.const 65536))

  (func (export "_start")
    (local $n i32) (local $done i32) (local $wrote i32)
    (loop $read
      (i32.store (i32.const 0) (global.get $buf))
      (i32.store (i32.const 4) (global.get $buf-len))
      (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8))
        (then unreachable))
      (local.set $n (i32.load (i32.const 8)))
      ;; zero bytes read: end of file
      (if (i32.eqz (local.get $n)) (then return))
      ;; write the n bytes, as many calls as it takes
      (local.set $done (i32.const 0))
      (loop $write
        (i32.store (i32.const 16) (i32.add (global.get $buf) (local.get $done)))
        (i32.store (i32.const 20) (i32.sub (local.get $n) (local.get $done)))
        (if (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))
          (then unreachable))
        (local.set $wrote (i32.load (i32.const 24)))
        (if (i32.eqz (local.get $wrote)) (then unreachable))
        (local.set $done (i32.add (local.get $done) (local.get $wrote)))
        (br_if $write (i32.lt_u (local.get $done) (local.get $n))))
      (br $read)))
)
