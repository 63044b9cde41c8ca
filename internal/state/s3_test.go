package state

import (
	"context"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestParseS3URL(t *testing.T) {
	for raw, want := range map[string]s3Location{
		"s3://b":           {bucket: "b"},
		"s3://b/":          {bucket: "b"},
		"s3://b/a/prefix/": {bucket: "b", prefix: "a/prefix/"},
		"s3://b/a?endpoint=http://127.0.0.1:9000&region=eu-west-1&path_style=true": {
			bucket: "b", prefix: "a/", endpoint: "http://127.0.0.1:9000", region: "eu-west-1", pathStyle: true,
		},
		"s3://b?path_style=false": {bucket: "b"},
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseS3URL(u)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", raw, got, err, want)
		}
		// The canonical form reads back the same.
		u2, _ := url.Parse(got.String())
		if again, err := parseS3URL(u2); err != nil || again != want {
			t.Errorf("%s: canonical %s reads back as %+v %v", raw, got.String(), again, err)
		}
	}
	for raw, wantErr := range map[string]string{
		"s3:///prefix":                              "no bucket",
		"s3:bucket":                                 "no bucket",
		"s3://localhost:9000/b":                     "?endpoint=",
		"s3://key:hunter2@b/p":                      "credentials do not belong",
		"s3://b/a/../x":                             "not a clean path",
		"s3://b?endpoint=127.0.0.1:9000":            "not an http:// or https:// URL",
		"s3://b?endpoint=ftp://h":                   "not an http:// or https:// URL",
		"s3://b?endpoint=http://u:p@h":              "must not carry credentials",
		"s3://b?endpoint=ftp://u:hunter2@h":         "must not carry credentials",
		"s3://b?endpoint=http://%zz":                "bad query",
		"s3://b?region=":                            "region is empty",
		"s3://b?path_style=yes":                     `path_style "yes"`,
		"s3://b?pathstyle=true":                     `unknown parameter "pathstyle"`,
		"s3://b?region=a&region=b":                  "given 2 times",
		"s3://b?access_key=AKIA&secret_key=hunter2": "unknown parameter",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = parseS3URL(u)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error %v, want one saying %q", raw, err, wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error repeats a secret: %v", raw, err)
		}
	}
}

// isolateAWSEnv keeps the developer's own AWS setup (profiles, files,
// instance metadata) out of a test.
func isolateAWSEnv(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ACCESS_KEY_ID":           "",
		"AWS_SECRET_ACCESS_KEY":       "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_S3":         "",
	} {
		t.Setenv(k, v)
	}
}

// TestOpenS3 opens s3:// URLs end to end: credentials from the
// environment, endpoint and path style from the URL.
func TestOpenS3(t *testing.T) {
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "runnel-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "runnel-test-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	endpoint := startFakeS3(t, "bucket")

	raw := "s3://bucket/some/prefix?endpoint=" + url.QueryEscape(endpoint) + "&path_style=true"
	s, err := Open(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := "s3://bucket/some/prefix?endpoint=" + url.QueryEscape(endpoint) + "&path_style=true"; s.URL() != want {
		t.Errorf("url %s, want %s", s.URL(), want)
	}
	key := SubtaskKey("job_1", 7, "op", 0)
	if err := s.Write(ctx, key, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(ctx, key); err != nil || string(got) != "state" {
		t.Fatalf("read %q %v", got, err)
	}
	if e, err := s.Epochs(ctx, "job_1"); err != nil || len(e) != 1 || e[0] != 7 {
		t.Fatalf("epochs %v %v", e, err)
	}
	// The object sits under the prefix in the bucket.
	out, err := fakeS3Client(endpoint).GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String("bucket"), Key: aws.String("some/prefix/" + key),
	})
	if err != nil {
		t.Fatalf("object not under the prefix: %v", err)
	}
	_ = out.Body.Close()

	// A bucket that does not exist fails at Open, not at the first checkpoint.
	if _, err := Open(ctx, "s3://missing?path_style=true&endpoint="+url.QueryEscape(endpoint)); err == nil || !strings.Contains(err.Error(), `bucket "missing"`) {
		t.Errorf("missing bucket: %v", err)
	}
	// Nor does a store that does not answer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()
	if _, err := Open(ctx, "s3://bucket?path_style=true&endpoint="+url.QueryEscape(closed)); err == nil {
		t.Error("open of a store that does not answer succeeded")
	}
	// A region in the URL is taken; so is one from the environment.
	if _, err := Open(ctx, raw+"&region=eu-central-1"); err != nil {
		t.Errorf("with region: %v", err)
	}
	t.Setenv("AWS_REGION", "ap-southeast-2")
	if _, err := Open(ctx, raw); err != nil {
		t.Errorf("with region from the environment: %v", err)
	}
}

func TestOpenS3WithoutCredentials(t *testing.T) {
	isolateAWSEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	endpoint := startFakeS3(t, "bucket")
	_, err := Open(ctx, "s3://bucket?path_style=true&endpoint="+url.QueryEscape(endpoint))
	if err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("open without credentials: %v", err)
	}
}
