;; stdout-flood: a command (WASI preview 1 core module) whose `_start`
;; writes 64 KiB of `x` to stdout with `fd_write`, again and again, and
;; never stops, not even when a write fails (its result is ignored). It
;; attacks the promise that captured stdout is bounded: a correct sandmap
;; keeps at most its cap of it in memory and ends the record (an `output`
;; error, or `--timeout`), whatever the guest keeps doing.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  ;; Layout: iovec at 0, bytes written at 8, the 64 KiB chunk in page 1.
  (memory (export "memory") 2)

  (func (export "_start")
    (memory.fill (i32.const 65536) (i32.const 0x78) (i32.const 65536))
    (i32.store (i32.const 0) (i32.const 65536))
    (i32.store (i32.const 4) (i32.const 65536))
    (loop $again
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br $again)))
)
