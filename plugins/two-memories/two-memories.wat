;; two-memories: a command (WASI preview 1 core module) with two linear
;; memories, to attack the promise that `--max-memory` caps an instance as
;; a whole, every memory added up, and not each memory on its own.
;;
;; `_start` grows each memory by 1000 pages (62.5 MiB), so each holds 1001
;; pages (about 62.6 MiB, under 64 MiB), writes the last byte of each, then
;; writes `ok\n` to stdout and returns. Together they hold about 125 MiB:
;; under `--max-memory 64MiB` a correct sandmap fails the record as kind
;; `memory`; with no flag (1 GiB) it succeeds. A refused grow traps
;; (`unreachable`). Needs the multi-memory proposal (on by default).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory $first (export "memory") 1)
  (memory $second 1)

  ;; Layout of $first: iovec at 0, bytes written at 8, the text at 16.
  (data (memory $first) (i32.const 16) "ok\n")

  (func (export "_start")
    (if (i32.eq (memory.grow $first (i32.const 1000)) (i32.const -1))
      (then unreachable))
    (if (i32.eq (memory.grow $second (i32.const 1000)) (i32.const -1))
      (then unreachable))
    ;; the last byte of each: size in pages * 64 KiB - 1
    (i32.store8 $first
      (i32.sub (i32.shl (memory.size $first) (i32.const 16)) (i32.const 1))
      (i32.const 1))
    (i32.store8 $second
      (i32.sub (i32.shl (memory.size $second) (i32.const 16)) (i32.const 1))
      (i32.const 1))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then unreachable)))
)
