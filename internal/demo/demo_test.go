package demo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app/apptest"
	"github.com/rallyhq/rally/internal/demo"
)

// TestSeedIsForUsers seeds a real rallyd and reads the demo back as the public does: every
// title says it is an example, and no text speaks to developers (issue 18).
func TestSeedIsForUsers(t *testing.T) {
	const token = "rly_admin_srDucs1aLvHAaAUJABuUdRilySVhX3Q_cuvZ8N4LFwQ"
	a := apptest.Start(t, token)
	ctx := context.Background()
	if err := demo.Seed(ctx, a.GRPCAddr(), token, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	var texts []string
	c, err := rallyv1.NewCampaignServiceClient(conn).GetCampaign(ctx, &rallyv1.GetCampaignRequest{Name: "campaigns/" + demo.CampaignID})
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, c.GetTitle(), c.GetDescription())
	titles := []string{c.GetTitle()}
	events, err := rallyv1.NewEventServiceClient(conn).ListEvents(ctx, &rallyv1.ListEventsRequest{Campaign: c.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events.GetEvents() {
		texts = append(texts, e.GetTitle(), e.GetDescription())
		titles = append(titles, e.GetTitle())
	}
	tasks, err := rallyv1.NewTaskServiceClient(conn).ListTasks(ctx, &rallyv1.ListTasksRequest{Campaign: c.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks.GetTasks() {
		texts = append(texts, tk.GetTitle(), tk.GetInstructions())
		titles = append(titles, tk.GetTitle())
	}
	if len(events.GetEvents()) == 0 || len(tasks.GetTasks()) == 0 {
		t.Fatalf("the demo has %d events and %d tasks", len(events.GetEvents()), len(tasks.GetTasks()))
	}
	for _, title := range titles {
		if !strings.HasPrefix(title, "Example: ") {
			t.Errorf("title %q does not say it is an example", title)
		}
	}
	for _, text := range texts {
		for _, dev := range []string{"make run", "DEMO DATA", "[DEMO]", "seeded", "rallyd"} {
			if strings.Contains(text, dev) {
				t.Errorf("%q speaks to developers (%q)", text, dev)
			}
		}
	}
	if !strings.Contains(c.GetDescription(), "not a real call to action") {
		t.Errorf("the campaign does not say it is not real:\n%s", c.GetDescription())
	}
}
