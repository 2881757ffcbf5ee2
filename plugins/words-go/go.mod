module sandmap/plugins/words-go

go 1.21
