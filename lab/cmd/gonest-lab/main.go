package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/lab"
	"github.com/gonest/gonest/lab/labtest"
)

// exitNoVerdict is the exit status when the run produced no verdict.
const exitNoVerdict = 125

func main() {
	images := flag.String("images", "images/out", "directory of built images (make images)")
	scenario := flag.String("scenario", "kvmtests", "gonest-init scenario to run in H")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up and kill QEMU after this long")
	appendArgs := flag.String("append", "", "more kernel parameters, e.g. gonest.testrun=TestHLT")
	disk := flag.Bool("disk", false, "attach disk.ext4 as a virtio-blk disk")
	cpus := flag.Int("cpus", lab.DefaultCPUs, "vCPUs for H (TCG uses one host core each)")
	memory := flag.String("memory", lab.DefaultMemory, "memory for H")
	interactive := flag.Bool("interactive", false, "give QEMU this terminal, as the shell scenario does (make run's demo)")
	flag.Parse()

	img, err := labtest.Find(*images)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gonest-lab: %v; run `make images` first\n", err)
		os.Exit(exitNoVerdict)
	}
	cfg := lab.Config{
		Kernel: img.Kernel, Initrd: img.H, NextImages: img.HNext, Scenario: *scenario, Append: *appendArgs,
		Timeout: *timeout, CPUs: *cpus, Memory: *memory, Log: os.Stdout,
		Interactive: *scenario == "shell" || *interactive,
	}
	if *disk {
		cfg.Disks = []string{img.Disk}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := lab.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gonest-lab: %v\n", err)
		os.Exit(exitNoVerdict)
	}
	var marks []string
	for _, m := range res.Marks {
		marks = append(marks, fmt.Sprintf("%s %.1fs", m, m.At.Seconds()))
	}
	fmt.Printf("gonest-lab: scenario %s: verdict %s in %.1fs (%s)\n",
		*scenario, res.Verdict, res.Duration.Seconds(), strings.Join(marks, ", "))
	if res.Verdict != guestabi.Pass {
		os.Exit(int(res.Verdict))
	}
}
