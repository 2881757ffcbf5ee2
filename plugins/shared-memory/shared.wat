;; shared-memory: a command (WASI preview 1 core module) whose memory is a
;; shared memory, from the threads proposal. sandmap switches threads off,
;; so a correct sandmap refuses to load it (exit 2, one line) before any
;; record runs. If it ran, `_start` would write `ok\n` to stdout.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  ;; Layout: iovec at 0, bytes written at 8, the text at 16.
  (memory (export "memory") 1 1 shared)
  (data (i32.const 16) "ok\n")

  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then unreachable)))
)
