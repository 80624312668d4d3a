package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/lab"
	"github.com/gonest/gonest/lab/labtest"
	"github.com/gonest/gonest/launch"
)

// BenchInitrd is the bench image of H inside the images directory.
const BenchInitrd = "h-bench.cpio.gz"

func main() {
	images := flag.String("images", "images/out", "directory of built images (make bench-images)")
	scenario := flag.String("scenario", "bench-boot", "gonest-init benchmark scenario to run in H")
	appendArgs := flag.String("append", "", "more kernel parameters for H, e.g. gonest.bench.runs=5")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up and kill QEMU after this long")
	logFile := flag.String("log", "", "write H's whole console here (default images/out/SCENARIO.log)")
	verbose := flag.Bool("v", false, "stream H's console to stderr as well")
	var disks multiFlag
	flag.Var(&disks, "disk", "image attached to H as a virtio-blk disk (repeatable), relative to -images unless absolute")
	flag.Parse()
	os.Exit(run(*images, *scenario, *appendArgs, *logFile, *timeout, *verbose, disks))
}

func run(images, scenario, appendArgs, logFile string, timeout time.Duration, verbose bool, disks []string) int {
	img, err := labtest.Find(images)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gonest-bench: %v; run `make bench-images` first\n", err)
		return 1
	}
	initrd := filepath.Join(img.Dir, BenchInitrd)
	if _, err := os.Stat(initrd); err != nil {
		fmt.Fprintf(os.Stderr, "gonest-bench: %v; build it with `make bench-images`\n", err)
		return 1
	}
	if logFile == "" {
		logFile = filepath.Join(img.Dir, scenario+".log")
	}
	f, err := os.Create(logFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gonest-bench: log: %v\n", err)
		return 1
	}
	defer f.Close()
	var buf bytes.Buffer
	var log io.Writer = io.MultiWriter(f, &buf)
	if verbose {
		log = io.MultiWriter(log, os.Stderr)
	}
	for i, d := range disks {
		if !filepath.IsAbs(d) {
			disks[i] = filepath.Join(img.Dir, d)
		}
	}
	// Three runs of each VMM at about half a minute each, plus H's boot:
	// a few minutes; the memory holds both VMMs' guests in turn.
	cfg := lab.Config{Kernel: img.Kernel, Initrd: initrd, NextImages: img.HNext, Scenario: scenario,
		Append: appendArgs, Timeout: timeout, Memory: "3G", Disks: disks, Log: log}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := lab.Run(ctx, cfg)
	rows := Rows(res.Messages)
	for _, r := range rows {
		fmt.Println(r)
	}
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "gonest-bench: %v\n(whole log: %s)\n", err, logFile)
		return 1
	case res.Verdict != 0 || len(rows) == 0:
		fmt.Fprintf(os.Stderr, "gonest-bench: scenario %s: verdict %s, %d result rows; see %s\n%s\n",
			scenario, res.Verdict, len(rows), logFile, lastLines(buf.String(), 30))
		return 1
	}
	fmt.Fprintf(os.Stderr, "gonest-bench: %s took %.0fs (log: %s)\n", scenario, res.Duration.Seconds(), logFile)
	return 0
}

// Rows returns the table rows H reported, in order: the text of its
// guestabi.ResultBenchRow results (a deeper level's are not H's).
func Rows(msgs []launch.Message) []string {
	var rows []string
	for _, m := range msgs {
		if m.Type == guestabi.MsgResult && m.Depth == 0 && m.Result.Name == guestabi.ResultBenchRow {
			rows = append(rows, m.Result.Text)
		}
	}
	return rows
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
