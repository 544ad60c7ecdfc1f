package main

import (
	"context"
	"io"
)

func runServer(ctx context.Context, args []string, stderr io.Writer) error {
	return usagef("not wired yet")
}
