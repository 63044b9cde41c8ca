// Package state keeps checkpoint state: the files operators write at each
// epoch, under a checkpoint URL (file:// under the data dir by default, or
// s3:// for object storage), laid out by job, epoch, operator and subtask,
// with retention of old epochs so that storage stays bounded.
package state

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// ErrNotFound is returned for a key that holds no file.
var ErrNotFound = errors.New("checkpoint file not found")

// blobStore is what a backend provides: whole-object put and get, listing
// by key prefix and deletion. Keys are slash-separated and already
// validated. Everything above it (records, epochs, retention) is written
// once, in Storage.
type blobStore interface {
	// put stores data at key; readers see the whole object or none of it.
	put(ctx context.Context, key string, data []byte) error
	// get returns the object at key, or an error wrapping ErrNotFound.
	get(ctx context.Context, key string) ([]byte, error)
	// list returns the keys starting with prefix, in any order.
	list(ctx context.Context, prefix string) ([]string, error)
	// delete removes keys; a key already gone is not an error.
	delete(ctx context.Context, keys []string) error
}

// folderDeleter is implemented by backends with real folders, so that
// deleting a folder prefix also takes the folder itself and leftovers that
// list does not show (temporary files of interrupted writes).
type folderDeleter interface {
	deleteFolder(ctx context.Context, prefix string) error
}

// Storage reads and writes checkpoint files. Keys are slash-separated
// paths relative to the root the URL names. It is safe for concurrent use.
type Storage struct {
	blobs blobStore
	url   string
}

// Open opens checkpoint storage at rawURL:
//
//   - file:///abs/path or a bare path: a local directory, created if absent;
//   - s3://bucket/optional/prefix?endpoint=URL&region=R&path_style=true:
//     an S3 bucket, with credentials from the standard AWS environment.
func Open(ctx context.Context, rawURL string) (*Storage, error) {
	if rawURL == "" {
		return nil, errors.New("checkpoint url is empty")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the input, which may carry a secret; say only why.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("checkpoint url: %w", err)
	}
	switch u.Scheme {
	case "":
		return openLocal(rawURL)
	case "file":
		return openLocal(u.Path)
	case "s3":
		return openS3(ctx, u)
	default:
		return nil, fmt.Errorf("checkpoint url: unsupported scheme %q (expected file:// or s3://)", u.Scheme)
	}
}

// URL is where the storage lives, without credentials.
func (s *Storage) URL() string { return s.url }

// checkKey rejects keys that could leave the storage root on any backend,
// so that both behave alike.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, `\`) || path.Clean(key) != key || key == "." || key == ".." || strings.HasPrefix(key, "../") {
		return fmt.Errorf("checkpoint key %q is not a clean relative path inside the storage root", key)
	}
	return nil
}

// checkPrefix applies checkKey to a listing or deletion prefix, which may
// also be empty (everything) or end in "/" (a folder).
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("checkpoint prefix %q is not a clean relative path inside the storage root", prefix)
	}
	return nil
}

// Write stores data at key. Readers see the whole file or none of it.
func (s *Storage) Write(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return s.blobs.put(ctx, key, data)
}

// Read returns the file at key, or an error wrapping ErrNotFound.
func (s *Storage) Read(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return s.blobs.get(ctx, key)
}

// List returns the keys of the files under prefix, sorted. Temporary files
// of writes in progress are not listed.
func (s *Storage) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	keys, err := s.blobs.list(ctx, prefix)
	if err != nil {
		return nil, err
	}
	slices.Sort(keys)
	return keys, nil
}

// DeletePrefix removes every file under prefix; a prefix ending in "/" is
// a folder and goes with them.
func (s *Storage) DeletePrefix(ctx context.Context, prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	if fd, ok := s.blobs.(folderDeleter); ok && strings.HasSuffix(prefix, "/") {
		return fd.deleteFolder(ctx, prefix)
	}
	keys, err := s.blobs.list(ctx, prefix)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return s.blobs.delete(ctx, keys)
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
