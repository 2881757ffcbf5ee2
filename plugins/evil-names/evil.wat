;; evil-names: a command (WASI preview 1 core module) whose `_start` writes
;; nothing and returns, and that also exports functions named to attack a
;; terminal. It attacks the promise that nothing that comes from a plugin
;; reaches a terminal raw: `sandmap inspect` (and any message that names
;; an export) must show these names with their control, C1 and bidi
;; characters escaped.
;;
;; | export name                        | what it would do, raw              |
;; |------------------------------------|------------------------------------|
;; | ESC[2J ESC[H ... OSC 52 ... BEL    | clears the screen, prints a forged |
;; |                                    | line, writes `echo pwned` to the   |
;; |                                    | clipboard (OSC 52, base64)         |
;; | `evil` U+202E `fdp.exe`            | right-to-left override: shows as   |
;; |                                    | `evilexe.pdf`                      |
;; | U+009B `31m` ...                   | C1 CSI (UTF-8 C2 9B): red text on  |
;; |                                    | terminals that take 8-bit controls |
;; | `x` LF `imports: none` ...         | a newline forges a line of output  |
;; | CR `_start`                        | a carriage return overwrites the   |
;; |                                    | start of its own line              |
(module
  (memory (export "memory") 1)
  (func $start)
  (func $other)
  (export "_start" (func $start))
  (export "\1b[2J\1b[Hsandbox: nothing granted\1b]52;c;ZWNobyBwd25lZA==\07" (func $other))
  (export "evil\u{202E}fdp.exe" (func $other))
  (export "\u{9B}31mred\u{9B}0m" (func $other))
  (export "x\nimports: none (sandbox: nothing granted)" (func $other))
  (export "\0d_start" (func $other))
)
