package cluster

import (
	"context"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// TestCheckpointsToS3 runs a job whose checkpoint_url is s3:// (an
// in-process fake on loopback): the stopping checkpoint lands in the
// bucket under the prefix, and the restarted run restores from it.
func TestCheckpointsToS3(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("ckpt"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "aws-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "runnel-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "runnel-test-secret")

	cfg := testConfig(t, dir)
	cfg.Controller.CheckpointURL = "s3://ckpt/runnel/cp?path_style=true&endpoint=" + url.QueryEscape(srv.URL)
	c := startCluster(t, cfg)
	api := client{t, c.URL()}
	var p pipeline
	if code := api.do("POST", "/pipelines", map[string]any{
		"name": "s3-checkpointed", "query": doublerSQL, "parallelism": 1, "checkpoint_interval_micros": 1_000_000,
	}, &p); code != 200 {
		t.Fatalf("create: %d", code)
	}
	j := api.waitState(p.ID, "Running")
	api.do("PATCH", "/pipelines/"+p.ID, map[string]any{"stop": "checkpoint"}, nil)
	api.waitState(p.ID, "Stopped")

	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("runnel-test", "runnel-test-secret", ""),
	})
	out, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{
		Bucket: aws.String("ckpt"), Prefix: aws.String("runnel/cp/jobs/" + j.ID + "/checkpoints/"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) == 0 {
		t.Fatal("no checkpoint objects in the bucket")
	}
	for _, o := range out.Contents {
		if k := aws.ToString(o.Key); !strings.HasPrefix(k, "runnel/cp/jobs/") {
			t.Errorf("object %s outside the prefix", k)
		}
	}

	stopped := api.checkpoints(p.ID, j.ID)
	last := stopped[len(stopped)-1]
	if last.CheckpointType != "stopping" || last.FinishTime == nil {
		t.Fatalf("last checkpoint %+v", last)
	}

	// The restarted run restores from the bucket and goes on writing
	// epochs there.
	api.do("PATCH", "/pipelines/"+p.ID, map[string]any{"stop": "none"}, nil)
	if j := api.waitState(p.ID, "Running"); j.RunID != 2 {
		t.Fatalf("restarted run id %d", j.RunID)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cps := api.checkpoints(p.ID, j.ID)
		if n := cps[len(cps)-1]; n.Epoch > last.Epoch && n.FinishTime != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after the restore: %+v", cps)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err = client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{
		Bucket: aws.String("ckpt"), Prefix: aws.String("runnel/cp/jobs/" + j.ID + "/checkpoints/"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var epochs []string
	for _, o := range out.Contents {
		epoch, _, _ := strings.Cut(strings.TrimPrefix(aws.ToString(o.Key), "runnel/cp/jobs/"+j.ID+"/checkpoints/"), "/")
		if !slices.Contains(epochs, epoch) {
			epochs = append(epochs, epoch)
		}
	}
	if len(epochs) < 2 {
		t.Fatalf("epochs in the bucket after the restart: %v", epochs)
	}
}

type checkpoint struct {
	Epoch          int64  `json:"epoch"`
	CheckpointType string `json:"checkpoint_type"`
	FinishTime     *int64 `json:"finish_time"`
}

func (c client) checkpoints(pl, jobID string) []checkpoint {
	c.t.Helper()
	var cps struct{ Data []checkpoint }
	if code := c.do("GET", "/pipelines/"+pl+"/jobs/"+jobID+"/checkpoints", nil, &cps); code != 200 || len(cps.Data) == 0 {
		c.t.Fatalf("checkpoints of %s: %d %+v", jobID, code, cps)
	}
	return cps.Data
}
