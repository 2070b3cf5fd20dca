package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"go.etcd.io/bbolt"

	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/atomicfile"
)

// DefaultFilesRoot is where secrets are written as files for the workload
// runner to mount read-only into containers: on /run, a tmpfs, so they
// never reach a disk.
const DefaultFilesRoot = "/run/skerry/secrets"

var bFiles = []byte("files")

// AppFiles says which of a tenant's secrets an app gets as files, and as
// which user. It is kept in the store so the files come back after a
// reboot empties the tmpfs.
type AppFiles = vaultapi.AppFiles

// SetAppFiles records that app of tenant gets secrets as files in
// <root>/<tenant>/<app>/<secret> (directory 0500, files 0400, both owned
// by uid:gid) and writes them now. Each later PutSecret of one of them
// rewrites its file in place (a rename: a reader sees the old value or
// the new, never half).
func (v *Vault) SetAppFiles(tenant, app string, f AppFiles) (string, error) {
	if err := validName("app", app); err != nil {
		return "", err
	}
	if f.UID < 0 || f.GID < 0 {
		return "", invalidf("app %s: uid and gid must be 0 or more", app)
	}
	for _, n := range f.Secrets {
		if err := validName("secret", n); err != nil {
			return "", err
		}
	}
	for n, file := range f.Files {
		if !slices.Contains(f.Secrets, n) {
			return "", invalidf("app %s: files names secret %s, which secrets does not list", app, n)
		}
		if err := validName("file", file); err != nil {
			return "", err
		}
	}
	key := []byte(tenant + "/" + app)
	err := v.Store.update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bFiles)
		if err != nil {
			return err
		}
		return putJSON(b, key, f)
	})
	if err != nil {
		return "", err
	}
	if err := v.removeUnlisted(tenant, app, f); err != nil {
		return "", err
	}
	return v.writeAppFiles(tenant, app, f)
}

// removeUnlisted removes the files of app's directory that f does not
// name: a secret the app no longer asks for leaves it.
func (v *Vault) removeUnlisted(tenant, app string, f AppFiles) error {
	dir := v.appDir(tenant, app)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("secret files of %s/%s: %w", tenant, app, err)
	}
	keep := map[string]bool{}
	for _, n := range f.Secrets {
		keep[fileName(f, n)] = true
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			if err := removeFile(dir, e.Name()); err != nil {
				return fmt.Errorf("secret files of %s/%s: %w", tenant, app, err)
			}
		}
	}
	return nil
}

// writeAppFiles writes the app's secrets; one missing is skipped (it is
// written when set), other failures are returned.
func (v *Vault) writeAppFiles(tenant, app string, f AppFiles) (string, error) {
	dir := v.appDir(tenant, app)
	if err := os.MkdirAll(dir, 0o500); err != nil {
		return "", fmt.Errorf("secret files of %s/%s: %w", tenant, app, err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		return "", err
	}
	if err := os.Lchown(dir, f.UID, f.GID); err != nil {
		return "", fmt.Errorf("secret files of %s/%s: %w", tenant, app, err)
	}
	for _, n := range f.Secrets {
		s, err := v.Store.Secret(tenant, n, 0)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return "", err
		}
		if err := writeOwned(filepath.Join(dir, fileName(f, n)), s.Value, f.UID, f.GID); err != nil {
			return "", fmt.Errorf("secret file %s of %s/%s: %w", n, tenant, app, err)
		}
	}
	return dir, nil
}

// writeOwned writes through a temporary file that has its owner and mode
// before it is renamed into place.
func writeOwned(path string, data []byte, uid, gid int) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return err
	}
	_, err = fh.Write(data)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Lchown(tmp, uid, gid)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(path))
}

// RemoveAppFiles forgets that app of tenant gets secrets as files and
// removes its directory: the workload runner calls it when the app goes,
// so its secrets do not stay on the tmpfs nor come back at the next
// unseal. An app without files is no error.
func (v *Vault) RemoveAppFiles(tenant, app string) error {
	if err := validName("app", app); err != nil {
		return err
	}
	had := false
	err := v.Store.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bFiles)
		if b == nil {
			return nil
		}
		k := []byte(tenant + "/" + app)
		had = b.Get(k) != nil
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("forget the secret files of %s/%s: %w", tenant, app, err)
	}
	if err := os.RemoveAll(v.appDir(tenant, app)); err != nil {
		return fmt.Errorf("remove the secret files of %s/%s: %w", tenant, app, err)
	}
	if had {
		v.log.Info("removed the secret files of an app", "tenant", tenant, "app", app)
	}
	return nil
}

func (v *Vault) appDir(tenant, app string) string { return filepath.Join(v.filesRoot, tenant, app) }

// fileName is the name of secret n's file for an app.
func fileName(f AppFiles, n string) string {
	if file := f.Files[n]; file != "" {
		return file
	}
	return n
}

// removeFile removes dir/name; one already gone is no error.
func removeFile(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// appJob is one app's secret files.
type appJob struct {
	tenant, app string
	f           AppFiles
}

// appsUsing lists the apps that get tenant's secret name as a file (any
// of tenant's secrets when name is empty; every tenant's when tenant is
// empty too).
func (v *Vault) appsUsing(tenant, name string) ([]appJob, error) {
	var jobs []appJob
	err := v.Store.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bFiles)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, val []byte) error {
			t, app, _ := cutLast(string(k))
			var f AppFiles
			if err := json.Unmarshal(val, &f); err != nil {
				return err
			}
			if (tenant == "" || t == tenant) && (name == "" || slices.Contains(f.Secrets, name)) {
				jobs = append(jobs, appJob{t, app, f})
			}
			return nil
		})
	})
	return jobs, err
}

// refreshFiles rewrites the files of every app that gets tenant's secret
// name (as appsUsing selects them).
func (v *Vault) refreshFiles(tenant, name string) error {
	jobs, err := v.appsUsing(tenant, name)
	var errs []error
	for _, j := range jobs {
		_, err := v.writeAppFiles(j.tenant, j.app, j.f)
		errs = append(errs, err)
	}
	return errors.Join(append(errs, err)...)
}

func cutLast(s string) (string, string, bool) {
	i := len(s) - 1
	for i >= 0 && s[i] != '/' {
		i--
	}
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}
