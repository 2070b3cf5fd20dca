package qemu

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// flags groups a command line's values by flag: -drive a -drive b gives
// "-drive": {a, b}; a flag without a value gets "".
func flags(argv []string) map[string][]string {
	m := map[string][]string{}
	for i := 0; i < len(argv); i++ {
		f := argv[i]
		if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
			m[f] = append(m[f], argv[i+1])
			i++
			continue
		}
		m[f] = append(m[f], "")
	}
	return m
}

func TestArgs(t *testing.T) {
	x86, arm := lookup(t, "qemu-x86_64"), lookup(t, "qemu-arm64")
	for _, tc := range []struct {
		name string
		cfg  Config
		plan plan
		// want lists the flags to check; a nil value means "absent".
		want map[string][]string
	}{{
		name: "direct boot, board defaults",
		cfg:  Config{Board: x86, Kernel: "/k/vmlinuz"},
		plan: plan{qmpSocket: "/d/qmp.sock"},
		want: map[string][]string{
			"-machine":   {"q35"},
			"-accel":     {"tcg,thread=multi"},
			"-cpu":       {"max"},
			"-smp":       {"2"},
			"-m":         {"1024"},
			"-kernel":    {"/k/vmlinuz"},
			"-initrd":    nil,
			"-append":    {x86.Kernel.Cmdline},
			"-chardev":   {"stdio,id=con0,signal=off", "socket,id=qmp0,path=/d/qmp.sock"},
			"-netdev":    {"user,id=n0"},
			"-device":    {"virtio-net-pci,ctrl_vq=off,ctrl_rx=off,ctrl_rx_extra=off,ctrl_vlan=off,ctrl_mac_addr=off,ctrl_guest_offloads=off,guest_announce=off,mq=off,netdev=n0", "virtio-rng-pci"},
			"-drive":     nil,
			"-no-reboot": nil,
		},
	}, {
		name: "direct boot with everything",
		cfg: Config{
			Board: x86, Kernel: "/k/vmlinuz", Initrd: "/k/initrd", Append: "console=ttyS0",
			MemoryMiB: 512, CPUs: 1, Forwards: []int{22, 443}, NoReboot: true,
			TPM: &TPM{}, Disk: "/img/disk.img", ExtraArgs: []string{"-S"},
		},
		plan: plan{qmpSocket: "/d/qmp.sock", tpmSocket: "/d/tpm.sock", disk: "/d/disk.qcow2", diskFormat: "qcow2"},
		want: map[string][]string{
			"-smp":    {"1"},
			"-m":      {"512"},
			"-initrd": {"/k/initrd"},
			"-append": {"console=ttyS0 panic=-1"},
			"-netdev": {"user,id=n0,hostfwd=tcp:127.0.0.1:0-:22,hostfwd=tcp:127.0.0.1:0-:443"},
			"-drive":  {"if=none,id=disk0,format=qcow2,file=/d/disk.qcow2"},
			"-chardev": {"stdio,id=con0,signal=off", "socket,id=qmp0,path=/d/qmp.sock",
				"socket,id=tpm0chr,path=/d/tpm.sock"},
			"-tpmdev": {"emulator,id=tpm0,chardev=tpm0chr"},
			"-device": {"virtio-net-pci,ctrl_vq=off,ctrl_rx=off,ctrl_rx_extra=off,ctrl_vlan=off,ctrl_mac_addr=off,ctrl_guest_offloads=off,guest_announce=off,mq=off,netdev=n0", "virtio-rng-pci",
				"virtio-blk-pci,drive=disk0,bootindex=1", "tpm-tis,tpmdev=tpm0"},
			"-no-reboot": {""},
			"-S":         {""},
		},
	}, {
		name: "uefi boot from disk on arm64",
		cfg:  Config{Board: arm, Disk: "/img/disk.img", TPM: &TPM{}},
		plan: plan{
			qmpSocket: "/d/qmp.sock", tpmSocket: "/d/tpm.sock",
			firmwareCode: "/fw/CODE.fd", firmwareVars: "/d/odd,name.fd",
			disk: "/img/disk.img", diskFormat: "raw",
		},
		want: map[string][]string{
			"-machine": {"virt"},
			"-cpu":     {"cortex-a57"},
			"-kernel":  nil,
			"-append":  nil,
			"-drive": {
				"if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd",
				"if=pflash,format=raw,unit=1,file=/d/odd,,name.fd", // QEMU's comma escape
				"if=none,id=disk0,format=raw,file=/img/disk.img",
			},
			"-device": {"virtio-net-pci,ctrl_vq=off,ctrl_rx=off,ctrl_rx_extra=off,ctrl_vlan=off,ctrl_mac_addr=off,ctrl_guest_offloads=off,guest_announce=off,mq=off,netdev=n0", "virtio-rng-pci",
				"virtio-blk-pci,drive=disk0,bootindex=1", "tpm-tis-device,tpmdev=tpm0"},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := flags(args(&tc.cfg, tc.plan))
			for f, want := range tc.want {
				if diff := cmp.Diff(want, got[f]); diff != "" {
					t.Errorf("%s (-want +got):\n%s", f, diff)
				}
			}
		})
	}
}

func TestCmdline(t *testing.T) {
	b := lookup(t, "qemu-x86_64")
	for _, tc := range []struct {
		append   string
		noReboot bool
		want     string
	}{
		{"", false, b.Kernel.Cmdline},
		{"", true, b.Kernel.Cmdline + " panic=-1"},
		{"console=ttyS0 panic=5", true, "console=ttyS0 panic=5"},
		{"console=ttyS0 oops=panic", true, "console=ttyS0 oops=panic panic=-1"},
	} {
		c := Config{Board: b, Kernel: "k", Append: tc.append, NoReboot: tc.noReboot}
		if got := cmdline(&c); got != tc.want {
			t.Errorf("cmdline(%q, NoReboot %v): got %q, want %q", tc.append, tc.noReboot, got, tc.want)
		}
	}
}

func TestConfigRejects(t *testing.T) {
	b := lookup(t, "qemu-x86_64")
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no board", Config{Kernel: "k"}},
		{"nothing to boot", Config{Board: b}},
		{"initrd alone", Config{Board: b, Disk: "d", Initrd: "i"}},
		{"write and overlay", Config{Board: b, Disk: "d", DiskWrite: true, Overlay: "o"}},
		{"port zero", Config{Board: b, Kernel: "k", Forwards: []int{0}}},
		{"port twice", Config{Board: b, Kernel: "k", Forwards: []int{22, 22}}},
	} {
		if err := tc.cfg.validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", tc.name, err)
		}
	}
}

func TestParseUsernet(t *testing.T) {
	const header = "Hub -1 (n0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n"
	for _, tc := range []struct {
		name, in string
		want     map[int]int
		wantErr  bool
	}{
		{"none", header, map[int]int{}, false},
		{"two", header +
			"  TCP[HOST_FORWARD]   9       127.0.0.1 42409       10.0.2.15    22     0     0\r\n" +
			"  TCP[HOST_FORWARD]   8       127.0.0.1 35801       10.0.2.15    80     0     0\r\n" +
			"  TCP[ESTABLISHED]   12       10.0.2.15 50000        10.0.2.2  8443     0     0\r\n",
			map[int]int{22: 42409, 80: 35801}, false},
		{"not loopback", header +
			"  TCP[HOST_FORWARD]   9         0.0.0.0 42409       10.0.2.15    22     0     0\r\n", nil, true},
	} {
		got, err := parseUsernet(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
