// Package state keeps checkpoint state: the files operators write at each
// epoch, under a checkpoint URL (file:// under the data dir by default),
// laid out by job, epoch, operator and subtask, with retention of old
// epochs so that storage stays bounded.
package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNotFound is returned for a key that holds no file.
var ErrNotFound = errors.New("checkpoint file not found")

// Storage reads and writes checkpoint files under a root directory. Keys
// are slash-separated paths relative to it.
type Storage struct {
	root string
}

// Open opens checkpoint storage at rawURL: a local directory given as
// file:///abs/path or as a bare path. Object storage (s3://) comes with
// the checkpointing work that needs it.
func Open(_ context.Context, rawURL string) (*Storage, error) {
	if rawURL == "" {
		return nil, errors.New("checkpoint url is empty")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("checkpoint url %q: %w", rawURL, err)
	}
	dir := rawURL
	switch u.Scheme {
	case "":
	case "file":
		dir = u.Path
	default:
		return nil, fmt.Errorf("checkpoint url %q: unsupported scheme %q (expected file://)", rawURL, u.Scheme)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("checkpoint dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating checkpoint dir: %w", err)
	}
	return &Storage{root: dir}, nil
}

// URL is where the storage lives.
func (s *Storage) URL() string { return "file://" + s.root }

func (s *Storage) path(key string) (string, error) {
	clean := filepath.FromSlash(key)
	if !filepath.IsLocal(clean) {
		return "", fmt.Errorf("checkpoint key %q escapes the storage root", key)
	}
	return filepath.Join(s.root, clean), nil
}

// Write stores data at key. Readers see the whole file or none of it: the
// data goes to a temporary file beside the target, is synced, and is then
// renamed into place.
func (s *Storage) Write(_ context.Context, key string, data []byte) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("writing %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", key, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, p)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", key, werr)
	}
	return nil
}

// Read returns the file at key, or ErrNotFound.
func (s *Storage) Read(_ context.Context, key string) ([]byte, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return data, nil
}

// List returns the keys of the files under prefix, sorted. Temporary files
// of writes in progress are not listed.
func (s *Storage) List(_ context.Context, prefix string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// DeletePrefix removes every file under prefix; a prefix ending in "/" is
// a folder and goes with them.
func (s *Storage) DeletePrefix(ctx context.Context, prefix string) error {
	if strings.HasSuffix(prefix, "/") {
		p, err := s.path(strings.TrimSuffix(prefix, "/"))
		if err != nil {
			return err
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("deleting %s: %w", prefix, err)
		}
		return nil
	}
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		p, err := s.path(k)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("deleting %s: %w", k, err)
		}
	}
	return nil
}

// EpochPrefix is the folder of one job's epoch. Epochs are zero-padded so
// that listing order is epoch order.
func EpochPrefix(jobID string, epoch int64) string {
	return fmt.Sprintf("jobs/%s/checkpoints/%010d/", jobID, epoch)
}

// SubtaskKey is the file of one subtask's state for an operator at an epoch.
func SubtaskKey(jobID string, epoch int64, operatorID string, subtask int) string {
	return fmt.Sprintf("%s%s/subtask-%04d.arrow", EpochPrefix(jobID, epoch), operatorID, subtask)
}

// Epochs lists the epochs a job has files for, ascending.
func (s *Storage) Epochs(ctx context.Context, jobID string) ([]int64, error) {
	root := "jobs/" + jobID + "/checkpoints/"
	keys, err := s.List(ctx, root)
	if err != nil {
		return nil, err
	}
	var epochs []int64
	for _, k := range keys {
		dir, _, ok := strings.Cut(strings.TrimPrefix(k, root), "/")
		if !ok {
			continue
		}
		e, err := strconv.ParseInt(dir, 10, 64)
		if err != nil {
			continue // not ours
		}
		if len(epochs) == 0 || epochs[len(epochs)-1] != e {
			epochs = append(epochs, e)
		}
	}
	return epochs, nil
}

// Retain deletes every epoch of a job except the newest keep ones and any
// listed in pinned (e.g. the epoch a restore is reading); it returns the
// epochs it deleted. Storage therefore stays bounded however long a job runs.
func (s *Storage) Retain(ctx context.Context, jobID string, keep int, pinned ...int64) ([]int64, error) {
	epochs, err := s.Epochs(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if keep < 1 {
		keep = 1
	}
	var deleted []int64
	for i, e := range epochs {
		if i >= len(epochs)-keep || slices.Contains(pinned, e) {
			continue
		}
		if err := s.DeletePrefix(ctx, EpochPrefix(jobID, e)); err != nil {
			return deleted, err
		}
		deleted = append(deleted, e)
	}
	return deleted, nil
}
