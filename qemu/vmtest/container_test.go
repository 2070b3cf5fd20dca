package vmtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/qemu"
	"github.com/skerry/skerry/qemu/ocitest"
)

const (
	testNamespace = "vmtest"
	testImage     = "skerry.test/hello:1"
)

// dialContainerd connects the containerd client to the guest's containerd
// through the forwarded debug TCP port.
func dialContainerd(t *testing.T, vm *qemu.VM) *containerd.Client {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+vm.HostAddr(containerdPort), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := containerd.NewWithConn(conn, containerd.WithDefaultNamespace(testNamespace))
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runContainer builds an OCI archive with a program for the board's arch,
// imports it into the guest's containerd, runs it, and reads its output
// from the guest's console.
func runContainer(t *testing.T, ctx context.Context, vm *qemu.VM, b *board.Board) {
	archive := filepath.Join(t.TempDir(), "hello.tar")
	src, err := os.ReadFile("testdata/hello.go.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := ocitest.Build(ocitest.Image{Name: testImage, Arch: b.Arch, Source: string(src)}, archive); err != nil {
		t.Fatal(err)
	}
	c := dialContainerd(t, vm)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(ctx, testNamespace), 5*time.Minute)
	defer cancel()
	if _, err := c.Version(ctx); err != nil {
		t.Fatalf("containerd version: %v", err)
	}
	platform := platforms.Only(ocispec.Platform{OS: "linux", Architecture: b.Arch})
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	imgs, err := c.Import(ctx, f, containerd.WithImportPlatform(platform))
	if err != nil {
		t.Fatalf("import %s: %v", archive, err)
	}
	if len(imgs) != 1 || imgs[0].Name != testImage {
		t.Fatalf("imported %v, want one image named %s", imgs, testImage)
	}
	img := containerd.NewImageWithPlatform(c, imgs[0], platform)
	if err := img.Unpack(ctx, ""); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	nonce := fmt.Sprintf("%d", time.Now().UnixNano())
	id := "hello-" + nonce
	ctr, err := c.NewContainer(ctx, id,
		containerd.WithNewSnapshot(id, img),
		// oci.WithImageConfig would mount the snapshot on this host to read
		// /etc/group, which a remote client cannot; say the process instead.
		containerd.WithNewSpec(oci.WithProcessArgs("/app"), oci.WithProcessCwd("/"), oci.WithEnv([]string{"PATH=/", "NONCE=" + nonce})))
	if err != nil {
		t.Fatalf("new container: %v", err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	// The task's output goes to the guest's console, which the test reads:
	// a FIFO on this host would not reach the guest's shim.
	task, err := ctr.NewTask(ctx, cio.LogFile("/dev/console"))
	if err != nil {
		t.Fatalf("new task: %v", err)
	}
	defer task.Delete(context.WithoutCancel(ctx))
	exitC, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start task: %v", err)
	}
	select {
	case st := <-exitC:
		code, _, err := st.Result()
		if err != nil || code != 0 {
			t.Fatalf("container exited with %d, %v; want 0", code, err)
		}
	case <-ctx.Done():
		t.Fatal("container did not exit")
	}
	want := fmt.Sprintf("hello from a container on %s, nonce %s", b.Arch, nonce)
	expect(t, ctx, vm, regexp.MustCompile(regexp.QuoteMeta(want)), time.Minute)
}

// checkImagePersisted shows that containerd's content store, on /perm,
// kept the image across the reboot.
func checkImagePersisted(t *testing.T, ctx context.Context, vm *qemu.VM) {
	c := dialContainerd(t, vm)
	ctx = namespaces.WithNamespace(ctx, testNamespace)
	var names []string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		imgs, err := c.ListImages(ctx)
		if err == nil {
			for _, i := range imgs {
				names = append(names, i.Name())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list images after reboot: %v", err)
		}
	}
	if !strings.Contains(strings.Join(names, " "), testImage) {
		t.Errorf("images after reboot: %v, want %s kept on /perm", names, testImage)
	}
}
