package bench

import (
	"syscall"
	"testing"
	"time"
)

// The loop's poll budget: it shrinks each time polling found nothing and the loop had to
// sleep (a slow server costs a few polls per response, not a busy core), never below minSpin,
// and an event already there is returned without touching it.
func TestLoopSpinBudgetAdapts(t *testing.T) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(epfd)
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: 0}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		t.Fatal(err)
	}
	e := &engine{base: time.Now()}
	l := &loop{e: e, epfd: epfd, events: make([]syscall.EpollEvent, 1), scanEach: time.Millisecond, spin: maxSpin}

	for want := maxSpin / 2; want >= minSpin; want /= 2 {
		if n, err := l.wait(); n != 0 || err != nil {
			t.Fatalf("nothing ready: %d events, %v", n, err)
		}
		if l.spin != want {
			t.Fatalf("budget %v after a sleep, want %v", l.spin, want)
		}
	}
	l.wait()
	if l.spin != minSpin {
		t.Fatalf("budget %v, want the floor %v", l.spin, minSpin)
	}
	syscall.Write(p[1], []byte{1})
	if n, err := l.wait(); n != 1 || err != nil || l.spin != minSpin {
		t.Fatalf("an event already there: %d, %v, budget %v", n, err, l.spin)
	}
}
