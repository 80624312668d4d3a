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
	vendor := flag.String("vendor", "amd", "amd: H under QEMU with SVM (kvm_amd); intel: H under Bochs with VMX (kvm_intel)")
	model := flag.String("bochs-model", lab.DefaultBochsModel, "with -vendor intel: the Bochs CPU model (it must have VMX and EPT)")
	ips := flag.Int("bochs-ips", lab.DefaultBochsIPS, "with -vendor intel: emulated instructions per second of H's clock")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var res lab.Result
	var err error
	switch *vendor {
	case "amd":
		res, err = runQEMU(ctx, *images, lab.Config{Scenario: *scenario, Append: *appendArgs,
			Timeout: *timeout, CPUs: *cpus, Memory: *memory, Log: os.Stdout,
			Interactive: *scenario == "shell" || *interactive}, *disk)
	case "intel":
		res, err = runBochs(ctx, *images, lab.BochsConfig{Model: *model, IPS: *ips, CPUs: *cpus, Scenario: *scenario,
			Append: *appendArgs, Timeout: *timeout, Log: os.Stdout})
	default:
		fmt.Fprintf(os.Stderr, "gonest-lab: -vendor %q: use amd or intel\n", *vendor)
		os.Exit(2)
	}
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

// runQEMU boots H under QEMU: the AMD lab.
func runQEMU(ctx context.Context, images string, cfg lab.Config, disk bool) (lab.Result, error) {
	img, err := labtest.Find(images)
	if err != nil {
		return lab.Result{}, fmt.Errorf("%w; run `make images` first", err)
	}
	cfg.Kernel, cfg.Initrd, cfg.NextImages = img.Kernel, img.H, img.HNext
	if disk {
		cfg.Disks = []string{img.Disk}
	}
	return lab.Run(ctx, cfg)
}

// runBochs boots H under Bochs: the Intel lab. H always gets its
// next-level images (h-next.cpio), whatever the scenario.
func runBochs(ctx context.Context, images string, cfg lab.BochsConfig) (lab.Result, error) {
	img, err := labtest.FindIntel(images)
	if err != nil {
		return lab.Result{}, fmt.Errorf("%w; run `make intel-images` first", err)
	}
	cfg.Kernel, cfg.Initrd, cfg.NextImages = img.Kernel, img.H, img.HNextCPIO
	return lab.RunBochs(ctx, cfg)
}
