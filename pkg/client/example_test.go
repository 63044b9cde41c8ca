package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/runnel-dev/runnel/pkg/client"
)

const query = `CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT counter * 2 AS doubled FROM impulse;`

// Create a pipeline and wait until its job runs.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.DefaultEndpoint)
	if err != nil {
		log.Fatal(err)
	}
	p, err := c.CreatePipeline(ctx, client.PipelinePost{Name: "doubled", Query: query, Parallelism: 2})
	if err != nil {
		log.Fatal(err)
	}
	j, err := c.WaitForState(ctx, p.ID, client.StateRunning, client.StateFailed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Name, j.State)
}

// Tell the user's mistakes from the server's failures.
func ExampleAPIError() {
	c, err := client.New(client.DefaultEndpoint)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.GetPipeline(context.Background(), "pl_unknown")
	var apiErr *client.APIError
	var connErr *client.ConnectionError
	switch {
	case errors.As(err, &apiErr) && apiErr.NotFound():
		fmt.Println("no such pipeline")
	case errors.As(err, &apiErr):
		fmt.Println("refused:", apiErr.StatusCode, apiErr.Message)
	case errors.As(err, &connErr):
		fmt.Println("server down:", connErr)
	}
}

// Walk every pipeline, page by page.
func ExampleClient_Pipelines() {
	c, err := client.New(client.DefaultEndpoint)
	if err != nil {
		log.Fatal(err)
	}
	for p, err := range c.Pipelines(context.Background(), &client.ListOptions{Limit: 50}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(p.ID, p.Name)
	}
}

// Preview a query and print its rows as they arrive.
func ExampleClient_OpenOutput() {
	ctx := context.Background()
	c, err := client.New(client.DefaultEndpoint)
	if err != nil {
		log.Fatal(err)
	}
	p, err := c.CreatePreview(ctx, client.PreviewPost{Query: "CREATE TABLE impulse WITH (connector = 'impulse');\nSELECT counter FROM impulse;"})
	if err != nil {
		log.Fatal(err)
	}
	j, err := c.WaitForState(ctx, p.ID, client.StateRunning)
	if err != nil {
		log.Fatal(err)
	}
	s, err := c.OpenOutput(ctx, p.ID, j.ID, &client.OutputOptions{
		OnReconnect: func(attempt int, cause error) { log.Printf("reconnecting (%d): %v", attempt, cause) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	for batch, err := range s.Batches() {
		if err != nil {
			log.Fatal(err)
		}
		rows, err := batch.Rows()
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range rows {
			v, _ := r.Get("counter")
			fmt.Println(v)
		}
	}
	fmt.Println("dropped batches:", s.Dropped())
}

// Follow a job's errors as they are recorded.
func ExampleClient_FollowJobErrors() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.DefaultEndpoint)
	if err != nil {
		log.Fatal(err)
	}
	j, err := c.CurrentJob(ctx, "pl_123")
	if err != nil {
		log.Fatal(err)
	}
	for m, err := range c.FollowJobErrors(ctx, "pl_123", j.ID, 10) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.CreatedAt.Time(), m.Message, m.Details)
	}
}
