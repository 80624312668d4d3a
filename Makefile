# gonest: the two commands a fresh machine needs are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
export CGO_ENABLED ?= 0

.PHONY: all build test unit vet
all: build

build:
	$(GO) build -o bin/gonest ./cmd/gonest

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 ./...

test: vet unit
