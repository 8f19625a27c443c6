package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// armAfter is how long a lazy run goes before SIGINT/SIGTERM get a handler.
// A warm `bg-agent process` is done in a few ms; anything that waits (an MFA
// prompt or touch, STS, starting the agent) takes longer than this.
const armAfter = 30 * time.Millisecond

var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// interrupts is the context that SIGINT and SIGTERM cancel, so every exit
// still goes through Main's return value.
//
// os/signal's first Notify starts the runtime's signal threads (ensureSigM
// locks a goroutine to a new OS thread, and the watcher blocks another):
// about 0.3 ms, measured by BenchmarkProcessWarmAgent, that each warm
// `bg-agent process` — run by the AWS CLI for every call — would pay for
// nothing. So for process the handler is installed only after armAfter.
// Until then the signals end the process at once (Go's default), which is
// harmless except while the audit log is appended to: hold covers that.
type interrupts struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	armed   bool
	stopped bool
	ch      chan os.Signal
	timer   *time.Timer
}

func newInterrupts(lazy bool) *interrupts {
	in := &interrupts{}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	if lazy {
		in.timer = time.AfterFunc(armAfter, in.arm)
	} else {
		in.arm()
	}
	return in
}

// arm installs the handler: from now on the signals cancel the context.
func (in *interrupts) arm() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.armed || in.stopped {
		return
	}
	in.armed = true
	in.ch = make(chan os.Signal, 1)
	signal.Notify(in.ch, stopSignals...) // also undoes hold's Ignore
	go func() {
		select {
		case <-in.ch:
			in.cancel()
		case <-in.ctx.Done():
		}
	}()
}

// hold keeps the signals from ending the process before it is armed: they
// are ignored until arm (a cheap sigaction; undoing it without arming would
// start the signal threads after all). Called before the audit log is
// appended to, so a Ctrl-C cannot leave half a record; what follows the
// append is printing the result and exiting.
func (in *interrupts) hold() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.armed && !in.stopped {
		signal.Ignore(stopSignals...)
	}
}

func (in *interrupts) stop() {
	in.mu.Lock()
	in.stopped = true
	if in.timer != nil {
		in.timer.Stop()
	}
	if in.armed {
		signal.Stop(in.ch)
	}
	in.mu.Unlock()
	in.cancel()
}
