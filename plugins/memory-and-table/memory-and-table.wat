;; memory-and-table: a command (WASI preview 1 core module) that holds a
;; big linear memory and a big table at once. It attacks the promise that
;; `--max-memory` caps an instance as a whole, tables included, and not
;; each memory and each table on its own.
;;
;; `_start` grows its memory to 1015 pages (63.4 MiB) and writes its last
;; byte, grows its `funcref` table to 256 Ki elements (2 MiB in wasmtime,
;; a pointer each; still over 64 MiB in all if counted at 4 bytes), then
;; writes `ok\n` to stdout and returns. Each fits under `--max-memory
;; 64MiB` alone, not both together: a correct sandmap fails the record as
;; kind `memory`; with no flag (1 GiB) it succeeds. A refused grow traps
;; (`unreachable`). The table is kept small: the previous release's pooling
;; allocator took 256 Ki elements, but not 512 Ki.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (table $t 1 funcref)

  ;; Layout: iovec at 0, bytes written at 8, the text at 16.
  (data (i32.const 16) "ok\n")

  (func (export "_start")
    (if (i32.eq (memory.grow (i32.const 1014)) (i32.const -1))
      (then unreachable))
    (i32.store8
      (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 1))
      (i32.const 1))
    (if (i32.eq (table.grow $t (ref.null func) (i32.const 0x3ffff)) (i32.const -1))
      (then unreachable))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
      (then unreachable)))
)
