;; wrong-exports: a valid component that is not a sandmap plugin. It
;; exports `example:other/thing@0.1.0` with `hello: func() -> u32`, and
;; neither `sandmap:plugin/mapper@0.1.0` nor `wasi:cli/run`, so sandmap must
;; refuse it before reading any record.
(component
  (core module $m
    (func (export "hello") (result i32)
      (i32.const 42)))
  (core instance $i (instantiate $m))
  (func $hello (result u32)
    (canon lift (core func $i "hello")))
  (instance $thing (export "hello" (func $hello)))
  (export "example:other/thing@0.1.0" (instance $thing)))
