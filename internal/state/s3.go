package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// defaultRegion is used when neither the URL nor the AWS environment names
// one; S3-compatible stores usually accept any region.
const defaultRegion = "us-east-1"

// openCheckTimeout bounds the bucket check at Open, so that an unreachable
// endpoint fails startup promptly instead of after every retry's backoff.
const openCheckTimeout = 30 * time.Second

// maxDeleteBatch is the most keys one DeleteObjects call takes.
const maxDeleteBatch = 1000

// s3Location is what an s3:// checkpoint URL says.
type s3Location struct {
	bucket    string
	prefix    string // "" or ending in "/"
	endpoint  string // "" for AWS itself
	region    string // "" to take it from the environment
	pathStyle bool
}

// parseS3URL reads s3://bucket/optional/prefix?endpoint=…&region=…&path_style=….
// Credentials never come from the URL: they would end up in configs and logs.
func parseS3URL(u *url.URL) (s3Location, error) {
	var loc s3Location
	// Errors name the URL without user info or query, where a secret
	// might have been put by mistake.
	shown := "s3://" + u.Host + u.Path
	fail := func(format string, args ...any) (s3Location, error) {
		return s3Location{}, fmt.Errorf("checkpoint url %q: %s", shown, fmt.Sprintf(format, args...))
	}
	if u.User != nil {
		return fail("credentials do not belong in the URL; set them in the AWS environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, …)")
	}
	if u.Opaque != "" || u.Host == "" {
		return fail("no bucket (expected s3://bucket/optional/prefix)")
	}
	if u.Port() != "" {
		return fail("%q is not a bucket name; give a server as ?endpoint=http://host:port", u.Host)
	}
	loc.bucket = u.Host
	if p := strings.Trim(u.Path, "/"); p != "" {
		if path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
			return fail("prefix %q is not a clean path", p)
		}
		loc.prefix = p + "/"
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("bad query: %v", err)
	}
	for name, vals := range query {
		if len(vals) != 1 {
			return fail("parameter %s given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "endpoint":
			e, err := url.Parse(v)
			switch {
			case err == nil && e.User != nil:
				return fail("endpoint must not carry credentials")
			case err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "":
				return fail("endpoint %q is not an http:// or https:// URL", v)
			}
			loc.endpoint = v
		case "region":
			if v == "" {
				return fail("region is empty")
			}
			loc.region = v
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fail("path_style %q is not true or false", v)
			}
			loc.pathStyle = b
		default:
			return fail("unknown parameter %q (known: endpoint, region, path_style)", name)
		}
	}
	return loc, nil
}

// String is the canonical URL, for logs and the config dump.
func (l s3Location) String() string {
	s := "s3://" + l.bucket
	if l.prefix != "" {
		s += "/" + strings.TrimSuffix(l.prefix, "/")
	}
	q := url.Values{}
	if l.endpoint != "" {
		q.Set("endpoint", l.endpoint)
	}
	if l.region != "" {
		q.Set("region", l.region)
	}
	if l.pathStyle {
		q.Set("path_style", "true")
	}
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// openS3 builds a client from the default AWS chain (environment, shared
// config and credentials files, SSO, web identity, instance roles) and
// checks that the bucket answers, so that a wrong URL or missing
// credentials fail at startup rather than at the first checkpoint.
func openS3(ctx context.Context, u *url.URL) (*Storage, error) {
	loc, err := parseS3URL(u)
	if err != nil {
		return nil, err
	}
	var opts []func(*config.LoadOptions) error
	if loc.region != "" {
		opts = append(opts, config.WithRegion(loc.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("checkpoint storage %s: loading AWS configuration: %w", loc, err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if loc.endpoint != "" {
			o.BaseEndpoint = aws.String(loc.endpoint)
		}
		o.UsePathStyle = loc.pathStyle
	})
	checkCtx, cancel := context.WithTimeout(ctx, openCheckTimeout)
	defer cancel()
	if _, err := client.HeadBucket(checkCtx, &s3.HeadBucketInput{Bucket: aws.String(loc.bucket)}); err != nil {
		return nil, fmt.Errorf("checkpoint storage %s: bucket %q: %w", loc, loc.bucket, err)
	}
	return &Storage{blobs: newS3Store(client, loc.bucket, loc.prefix), url: loc.String()}, nil
}

// s3API is the part of the S3 client the store uses.
type s3API interface {
	s3.ListObjectsV2APIClient
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, opts ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

// s3Store keeps checkpoint files as objects under a key prefix of a
// bucket. A PUT is atomic, so there are no temporary objects.
type s3Store struct {
	client s3API
	bucket string
	prefix string
}

func newS3Store(client s3API, bucket, prefix string) *s3Store {
	return &s3Store{client: client, bucket: bucket, prefix: prefix}
}

// put uploads in one request: state files are far below the 5 GiB a
// single PUT takes.
func (s *s3Store) put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.prefix + key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", key, err)
	}
	return nil
}

func (s *s3Store) get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		if isS3NotFound(err) {
			return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	return data, nil
}

// isS3NotFound tells a missing object from other failures. Compatible
// stores do not all send the typed error, so the code is checked too; a
// missing bucket is deliberately not "not found".
func isS3NotFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
}

// list pages through ListObjectsV2 (at most 1000 keys a page).
func (s *s3Store) list(ctx context.Context, prefix string) ([]string, error) {
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	var keys []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), s.prefix))
		}
	}
	return keys, nil
}

// delete removes keys in batches of DeleteObjects; S3 reports per-key
// failures in the response rather than as an error.
func (s *s3Store) delete(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), maxDeleteBatch)
		batch := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			batch[i] = types.ObjectIdentifier{Key: aws.String(s.prefix + k)}
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.bucket),
			Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("deleting %d files from %s: %w", n, keys[0], err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("deleting %s: %s: %s (and %d more failures)",
				strings.TrimPrefix(aws.ToString(e.Key), s.prefix), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1)
		}
		keys = keys[n:]
	}
	return nil
}
