package kafka

import (
	"context"
	"testing"
)

func TestByteBudget(t *testing.T) {
	b := newByteBudget(100)
	ctx := context.Background()
	if err := b.acquire(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx, 40); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 3)
	for _, n := range []int64{55, 10} {
		go func() {
			if err := b.acquire(ctx, n); err == nil {
				got <- n
			}
		}()
		for {
			b.mu.Lock()
			queued := len(b.waiters)
			b.mu.Unlock()
			if (n == 55 && queued == 1) || (n == 10 && queued == 2) {
				break
			}
		}
	}
	// A cancelled waiter leaves the queue without taking bytes.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.acquire(cctx, 1); err == nil {
		t.Fatal("cancelled acquire succeeded")
	}
	b.release(60) // 40 held: 55 fits (95); 10 would not (105) and must not overtake it
	if n := <-got; n != 55 {
		t.Fatalf("admitted %d first, want 55 (arrival order)", n)
	}
	b.release(40) // 55 held: 10 fits
	if n := <-got; n != 10 {
		t.Fatalf("admitted %d, want 10", n)
	}
	b.release(55)
	b.release(10)
	// Nothing held: a request above the whole budget is admitted rather than waiting forever.
	if err := b.acquire(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used != 1000 || len(b.waiters) != 0 {
		t.Fatalf("used %d, waiters %d", b.used, len(b.waiters))
	}
}
