;; no-start: a valid core module that is not a command: it exports only a
;; function `hello` and no `_start`, so sandmap must refuse it before
;; reading any record.
(module
  (func (export "hello") (result i32)
    (i32.const 42)))
