package modindex

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadOrder(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"modules.dep": "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n" +
			"kernel/lib/crc16.ko:\nkernel/fs/mbcache.ko:\nkernel/fs/jbd2/jbd2.ko:\n" +
			"kernel/crypto/crc32c_generic.ko:\nkernel/lib/libcrc32c.ko:\n" +
			"kernel/drivers/char/tpm/tpm_tis_core.ko:\nextra/tpm_tis.ko: kernel/drivers/char/tpm/tpm_tis_core.ko\n",
		"modules.softdep": "# comment\nsoftdep libcrc32c pre: crc32c\nsoftdep ext4 pre: crc32c\n",
		"modules.alias":   "alias crc32c crc32c_generic\nalias crypto-crc32c crc32c_generic\nalias of:N*T*Ctcg,tpm-tis-mmio tpm_tis\n",
		"modules.builtin": "kernel/drivers/virtio/virtio.ko\n",
	})
	ix, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		// soft dependency first, then depmod's list in reverse, then ext4
		{[]string{"ext4"}, []string{"crc32c_generic", "jbd2", "mbcache", "crc16", "ext4"}},
		{[]string{"libcrc32c"}, []string{"crc32c_generic", "libcrc32c"}},
		{[]string{"tpm_tis", "virtio"}, []string{"tpm_tis_core", "tpm_tis"}},
		{[]string{"crc32c-generic", "crc32c"}, []string{"crc32c_generic"}},
	} {
		got, err := ix.LoadOrder(tc.names)
		if err != nil {
			t.Errorf("LoadOrder(%v): %v", tc.names, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("LoadOrder(%v) (-want +got):\n%s", tc.names, diff)
		}
	}
	if _, err := ix.LoadOrder([]string{"nosuchmod"}); err == nil {
		t.Error("LoadOrder of an unknown module succeeded")
	}
}
