package server_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

func (h *harness) tasks() rallyv1.TaskServiceClient { return rallyv1.NewTaskServiceClient(h.conn) }

func validTask(campaign string, now time.Time) *rallyv1.Task {
	return &rallyv1.Task{
		Campaign: campaign,
		Kind:     rallyv1.TaskKind_TASK_KIND_SHARE_POST,
		Title:    "Share the fact-based statement",
		MessageTemplates: []*rallyv1.MessageTemplate{
			{LanguageCode: "en", Text: "Love is not propaganda."},
			{LanguageCode: "kk", Text: "Махаббат үгіт емес."},
		},
		Sources:  []*rallyv1.Source{{Url: "https://www.hrw.org/europe/central-asia/kazakhstan", Title: "Kazakhstan", Publisher: "Human Rights Watch"}},
		Deadline: timestamppb.New(now.Add(7 * 24 * time.Hour)),
	}
}

func TestTaskValidation(t *testing.T) {
	h := newHarness(t)
	_, asAlice := h.organiser(t, "Alice")
	c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
	if err != nil {
		t.Fatal(err)
	}
	now := h.clock.Now()
	mod := func(f func(*rallyv1.Task)) *rallyv1.Task { tk := validTask(c.GetName(), now); f(tk); return tk }
	for _, tc := range []struct {
		name  string
		task  *rallyv1.Task
		field string
	}{
		{"http source", mod(func(tk *rallyv1.Task) { tk.Sources[0].Url = "http://example.org" }), "task.sources[0].url"},
		{"unknown language", mod(func(tk *rallyv1.Task) { tk.MessageTemplates[0].LanguageCode = "xx-nonsense" }), "task.message_templates[0].language_code"},
		{"same language twice", mod(func(tk *rallyv1.Task) { tk.MessageTemplates[1].LanguageCode = "EN" }), "task.message_templates[1].language_code"},
		{"negative target", mod(func(tk *rallyv1.Task) { tk.TargetCompletions = -1 }), "task.target_completions"},
		{"deadline in the past", mod(func(tk *rallyv1.Task) { tk.Deadline = timestamppb.New(now.Add(-time.Hour)) }), "task.deadline"},
		{"no kind", mod(func(tk *rallyv1.Task) { tk.Kind = 0 }), "task.kind"},
		{"short claim ttl", mod(func(tk *rallyv1.Task) { tk.ClaimTtl = durationpb.New(time.Second) }), "task.claim_ttl"},
		{"unknown campaign", mod(func(tk *rallyv1.Task) { tk.Campaign = "campaigns/nope" }), "task.campaign"},
		{"event of no campaign", mod(func(tk *rallyv1.Task) { tk.Event = "events/nope" }), "task.event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.tasks().CreateTask(asAlice, &rallyv1.CreateTaskRequest{Task: tc.task})
			wantCode(t, err, codes.InvalidArgument, tc.field)
		})
	}
}

func TestTaskClaims(t *testing.T) {
	h := newHarness(t)
	_, asAlice := h.organiser(t, "Alice")
	c, err := h.campaigns.CreateCampaign(asAlice, &rallyv1.CreateCampaignRequest{Campaign: validCampaign()})
	if err != nil {
		t.Fatal(err)
	}
	in := validTask(c.GetName(), h.clock.Now())
	in.MaxConcurrentClaims, in.ClaimTtl = 1, durationpb.New(time.Hour)
	tk, err := h.tasks().CreateTask(asAlice, &rallyv1.CreateTaskRequest{Task: in})
	if err != nil {
		t.Fatal(err)
	}
	if tk.GetState() != rallyv1.TaskState_TASK_STATE_OPEN || tk.GetMessageTemplates()[1].GetLanguageCode() != "kk" {
		t.Fatalf("created: %v", tk)
	}
	first, err := h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName(), DisplayName: "Sky"})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.GetClaimToken()) != len("rly_claim_")+43 || first.GetClaim().GetState() != rallyv1.ClaimState_CLAIM_STATE_CLAIMED {
		t.Fatalf("claim: %v", first)
	}
	_, err = h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName()})
	wantCode(t, err, codes.FailedPrecondition, "") // one place only

	// The claim expires with the clock and frees its place.
	h.clock.Add(time.Hour)
	second, err := h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName()})
	if err != nil {
		t.Fatalf("claim after the first expired: %v", err)
	}
	_, err = h.tasks().CompleteClaim(bearer(h.ctx, first.GetClaimToken()), &rallyv1.CompleteClaimRequest{Name: first.GetClaim().GetName()})
	wantCode(t, err, codes.FailedPrecondition, "")

	// Completing twice counts once; the proof is for organisers only.
	asSecond := bearer(h.ctx, second.GetClaimToken())
	for range 2 {
		done, err := h.tasks().CompleteClaim(asSecond, &rallyv1.CompleteClaimRequest{Name: second.GetClaim().GetName(), ProofUrl: "https://example.org/my-post", Note: "shared"})
		if err != nil || done.GetState() != rallyv1.ClaimState_CLAIM_STATE_COMPLETED || done.GetProofUrl() != "" {
			t.Fatalf("complete: %v, %v", done, err)
		}
	}
	claims, err := h.tasks().ListClaims(asAlice, &rallyv1.ListClaimsRequest{Parent: tk.GetName()})
	if err != nil || len(claims.GetClaims()) != 2 || claims.GetClaims()[1].GetProofUrl() != "https://example.org/my-post" || claims.GetClaims()[0].GetState() != rallyv1.ClaimState_CLAIM_STATE_EXPIRED {
		t.Fatalf("organiser's list of claims: %v, %v", claims, err)
	}
	got, err := h.tasks().GetTask(h.ctx, &rallyv1.GetTaskRequest{Name: tk.GetName()})
	if err != nil || got.GetProgress().GetCompleted() != 1 || got.GetProgress().GetClaimed() != 0 {
		t.Fatalf("progress: %v, %v", got.GetProgress(), err)
	}

	// Another claim's token, or another campaign's organiser, finds nothing.
	_, asBob := h.organiser(t, "Bob")
	_, err = h.tasks().ReleaseClaim(asBob, &rallyv1.ReleaseClaimRequest{Name: second.GetClaim().GetName()})
	wantCode(t, err, codes.NotFound, "")
	_, err = h.tasks().ReleaseClaim(bearer(h.ctx, first.GetClaimToken()), &rallyv1.ReleaseClaimRequest{Name: second.GetClaim().GetName()})
	wantCode(t, err, codes.NotFound, "")

	// A closed task refuses claims.
	if _, err := h.tasks().CloseTask(asAlice, &rallyv1.CloseTaskRequest{Name: tk.GetName()}); err != nil {
		t.Fatal(err)
	}
	_, err = h.tasks().ClaimTask(h.ctx, &rallyv1.ClaimTaskRequest{Name: tk.GetName()})
	wantCode(t, err, codes.FailedPrecondition, "")
	list, err := h.tasks().ListTasks(h.ctx, &rallyv1.ListTasksRequest{Campaign: c.GetName(), OpenOnly: true})
	if err != nil || len(list.GetTasks()) != 0 {
		t.Fatalf("open tasks after closing: %v, %v", list, err)
	}
	list, err = h.tasks().ListTasks(h.ctx, &rallyv1.ListTasksRequest{LanguageCode: "kk"})
	if err != nil || len(list.GetTasks()) != 1 {
		t.Fatalf("tasks in kk: %v, %v", list, err)
	}
}
