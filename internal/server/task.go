package server

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/text/language"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
	"github.com/rallyhq/rally/internal/metrics"
	"github.com/rallyhq/rally/internal/names"
	"github.com/rallyhq/rally/internal/store"
)

type taskServer struct {
	rallyv1.UnimplementedTaskServiceServer
	*service
}

// taskMask is UpdateTask's update-mask rules, from Task's field behaviours (Task.event is
// IMMUTABLE: a task moved to another event would leave the old event's watchers and
// indexes behind).
var taskMask = deriveMask((*rallyv1.Task)(nil).ProtoReflect().Descriptor())

// checkLanguages requires a known BCP 47 tag, once, on every message template, and
// stores it in canonical form ("de-at" becomes "de-AT"), so that filters match.
func checkLanguages(field string, t *rallyv1.Task) error {
	seen := map[string]bool{}
	for i, m := range t.GetMessageTemplates() {
		tag, err := language.Parse(m.GetLanguageCode())
		f := fmt.Sprintf("%s.message_templates[%d].language_code", field, i)
		if err != nil {
			return errInvalid(f, "not a known BCP 47 language tag, such as en, kk, ru or de-AT")
		}
		m.LanguageCode = tag.String()
		if seen[m.LanguageCode] {
			return errInvalid(f, "one template per language")
		}
		seen[m.LanguageCode] = true
	}
	return nil
}

// publishTask pushes a task's progress to the watchers of its campaign and event.
func (s *service) publishTask(ctx context.Context, kind rallyv1.ChangeKind, task string) {
	t, err := s.store.GetTask(ctx, task, s.now())
	if err != nil {
		s.log.ErrorContext(ctx, "publishing a change failed", "resource", task, "err", err)
		return
	}
	s.publishTo(ctx, audiencePublic, kind, task, nil, t.GetEvent(), t.GetCampaign())
}

func (s *taskServer) CreateTask(ctx context.Context, req *rallyv1.CreateTaskRequest) (*rallyv1.Task, error) {
	t := proto.CloneOf(req.GetTask())
	if err := s.authorizeTaskCreate(ctx, t); err != nil {
		return nil, err
	}
	if err := checkLanguages("task", t); err != nil {
		return nil, err
	}
	now := s.now()
	if !t.GetDeadline().AsTime().After(now) {
		return nil, errInvalid("task.deadline", "must be in the future")
	}
	if t.ClaimTtl == nil {
		t.ClaimTtl = durationpb.New(store.DefaultClaimTTL)
	}
	t.Name, t.State, t.Progress = names.TaskName(newID()), rallyv1.TaskState_TASK_STATE_OPEN, nil
	t.CreateTime, t.UpdateTime, t.Etag = timestamppb.New(now), timestamppb.New(now), ""
	t.Etag = s.etag(t)
	if err := s.store.CreateTask(ctx, t); err != nil {
		return nil, err
	}
	s.publishTo(ctx, audiencePublic, rallyv1.ChangeKind_CHANGE_KIND_CREATED, t.GetName(), nil, t.GetEvent(), t.GetCampaign())
	return s.presentTask(t), nil
}

func (s *taskServer) GetTask(ctx context.Context, req *rallyv1.GetTaskRequest) (*rallyv1.Task, error) {
	t, err := s.store.GetTask(ctx, req.GetName(), s.now())
	if err != nil {
		return nil, err
	}
	return s.presentTask(t), nil
}

func (s *taskServer) ListTasks(ctx context.Context, req *rallyv1.ListTasksRequest) (*rallyv1.ListTasksResponse, error) {
	code := req.GetLanguageCode()
	if code != "" {
		tag, err := language.Parse(code)
		if err != nil {
			return nil, errInvalid("language_code", "not a known BCP 47 language tag, such as en, kk, ru or de-AT")
		}
		code = tag.String()
	}
	page, err := s.store.ListTasks(ctx, store.TaskQuery{
		Campaign: req.GetCampaign(), Event: req.GetEvent(), Kind: req.GetKind(), LanguageCode: code,
		State: req.GetState(), OpenOnly: req.GetOpenOnly(), Now: s.now(),
		PageSize: pageSize(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, err
	}
	for _, t := range page.Items {
		s.presentTask(t)
	}
	return &rallyv1.ListTasksResponse{Tasks: page.Items, NextPageToken: page.NextPageToken}, nil
}

func (s *taskServer) UpdateTask(ctx context.Context, req *rallyv1.UpdateTaskRequest) (*rallyv1.Task, error) {
	in := req.GetTask()
	if _, ok := names.Task(in.GetName()); !ok {
		return nil, errInvalid("task.name", "must be a task name such as tasks/abc")
	}
	paths, err := taskMask.paths("update_mask", req.GetUpdateMask(), in)
	if err != nil {
		return nil, err
	}
	if _, err := s.authorizeTask(ctx, in.GetName()); err != nil {
		return nil, err
	}
	t, err := s.store.UpdateTask(ctx, in.GetName(), func(cur *rallyv1.Task) error {
		if in.GetEtag() != "" && in.GetEtag() != cur.GetEtag() {
			return errEtagMismatch("task.etag")
		}
		apply(in, cur, paths)
		if err := s.validator.Validate(cur); err != nil {
			return validationError(err, "task")
		}
		if err := checkLanguages("task", cur); err != nil {
			return err
		}
		if cur.ClaimTtl == nil {
			cur.ClaimTtl = durationpb.New(store.DefaultClaimTTL)
		}
		cur.Progress = nil
		cur.UpdateTime = timestamppb.New(s.now())
		cur.Etag = s.etag(cur)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.publishTask(ctx, rallyv1.ChangeKind_CHANGE_KIND_UPDATED, t.GetName())
	return s.presentTask(t), nil
}

func (s *taskServer) CloseTask(ctx context.Context, req *rallyv1.CloseTaskRequest) (*rallyv1.Task, error) {
	if _, err := s.authorizeTask(ctx, req.GetName()); err != nil {
		return nil, err
	}
	t, err := s.store.UpdateTask(ctx, req.GetName(), func(cur *rallyv1.Task) error {
		if cur.GetState() == rallyv1.TaskState_TASK_STATE_CLOSED {
			return errNoChange
		}
		cur.State, cur.Progress = rallyv1.TaskState_TASK_STATE_CLOSED, nil
		cur.UpdateTime = timestamppb.New(s.now())
		cur.Etag = s.etag(cur)
		return nil
	})
	if errors.Is(err, errNoChange) {
		t, err = s.store.GetTask(ctx, req.GetName(), s.now())
	} else if err == nil {
		s.publishTask(ctx, rallyv1.ChangeKind_CHANGE_KIND_UPDATED, req.GetName())
	}
	if err != nil {
		return nil, err
	}
	return s.presentTask(t), nil
}

func (s *taskServer) ClaimTask(ctx context.Context, req *rallyv1.ClaimTaskRequest) (*rallyv1.ClaimTaskResponse, error) {
	task := req.GetName()
	id := req.GetClaimId()
	if id == "" {
		id = newID()
	}
	name := names.ClaimName(task, id)
	personal, err := s.sealClaim(ctx, task, name, "envelope", req.GetEnvelope(), &rallyv1.SealedFields{DisplayName: req.GetDisplayName()})
	if err != nil {
		return nil, err
	}
	token := auth.NewToken(auth.ClaimPrefix)
	hash := auth.Hash(token)
	now := s.now()
	n := store.NewClaim{
		Claim:     &rallyv1.Claim{Name: name, Envelope: personal.Envelope, CreateTime: timestamppb.New(now)},
		TokenHash: hash[:],
	}
	if personal.InClear {
		n.Claim.DisplayName = req.GetDisplayName()
	}
	if id := req.GetRequestId(); id != "" {
		sealed, err := sealToken(s.secrets, task, id, []byte(token))
		if err != nil {
			return nil, err
		}
		n.RequestKey, n.SealedToken = requestKey(task, id), sealed
	}
	created, err := s.store.ClaimTask(ctx, task, n, now)
	if err != nil {
		s.metrics.Claim(claimRefusal(err))
		return nil, taskError(task, err)
	}
	if created.Replayed {
		s.metrics.Claim(metrics.ClaimReplayed)
		opened, err := openToken(s.secrets, task, req.GetRequestId(), created.SealedToken)
		if errors.Is(err, errSealedUnopenable) {
			return nil, errReplayUnopenable()
		} else if err != nil {
			return nil, err
		}
		token = string(opened)
	} else {
		s.metrics.Claim(metrics.ClaimClaimed)
		s.publishTask(ctx, rallyv1.ChangeKind_CHANGE_KIND_TASK_PROGRESS, task)
	}
	inClear := created.Claim.GetDisplayName() != ""
	return &rallyv1.ClaimTaskResponse{Claim: presentClaim(created.Claim, false), ClaimToken: token, StoredInClear: inClear}, nil
}

// sealClaim seals a claim's personal fields for the claim named name (see seal),
// reading the task for its campaign only when there are any.
func (s *service) sealClaim(ctx context.Context, task, name, field string, env *rallyv1.Envelope, plain *rallyv1.SealedFields) (sealed, error) {
	if !hasPersonal(env, plain) {
		return sealed{}, nil
	}
	t, err := s.store.GetTask(ctx, task, s.now())
	if err != nil {
		return sealed{}, err
	}
	c, err := s.store.GetCampaign(ctx, t.GetCampaign())
	if err != nil {
		return sealed{}, err
	}
	keys, err := s.recipientKeys(ctx, c)
	if err != nil {
		return sealed{}, err
	}
	return seal(name, field, env, plain, keys)
}

func (s *taskServer) CompleteClaim(ctx context.Context, req *rallyv1.CompleteClaimRequest) (*rallyv1.Claim, error) {
	organiser, err := s.authorizeClaim(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	personal, err := s.sealClaim(ctx, names.TaskOfClaim(req.GetName()), req.GetName(), "envelope", req.GetEnvelope(),
		&rallyv1.SealedFields{Note: req.GetNote(), ProofUrl: req.GetProofUrl()})
	if err != nil {
		return nil, err
	}
	done := store.Completion{Envelope: personal.Envelope}
	if personal.InClear {
		done.ProofURL, done.Note = req.GetProofUrl(), req.GetNote()
	}
	c, err := s.store.CompleteClaim(ctx, req.GetName(), done, s.now())
	if err != nil {
		s.metrics.Claim(claimRefusal(err))
		return nil, taskError(req.GetName(), err)
	}
	s.metrics.Claim(metrics.ClaimCompleted)
	s.publishTask(ctx, rallyv1.ChangeKind_CHANGE_KIND_TASK_PROGRESS, names.TaskOfClaim(req.GetName()))
	return presentClaim(c, organiser), nil
}

func (s *taskServer) ReleaseClaim(ctx context.Context, req *rallyv1.ReleaseClaimRequest) (*rallyv1.Claim, error) {
	organiser, err := s.authorizeClaim(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	c, err := s.store.ReleaseClaim(ctx, req.GetName(), s.now())
	if err != nil {
		s.metrics.Claim(claimRefusal(err))
		return nil, taskError(req.GetName(), err)
	}
	s.metrics.Claim(metrics.ClaimReleased)
	s.publishTask(ctx, rallyv1.ChangeKind_CHANGE_KIND_TASK_PROGRESS, names.TaskOfClaim(req.GetName()))
	return presentClaim(c, organiser), nil
}

func (s *taskServer) ListClaims(ctx context.Context, req *rallyv1.ListClaimsRequest) (*rallyv1.ListClaimsResponse, error) {
	if _, err := s.authorizeTask(ctx, req.GetParent()); err != nil {
		return nil, err
	}
	// Claims carry pseudonyms, notes and proof URLs: recorded before the read, as
	// ListRsvps is, so that no read of them goes unrecorded.
	if err := s.audit(ctx, req.GetParent(), "ListClaims"); err != nil {
		return nil, err
	}
	size := int(req.GetPageSize())
	if size == 0 {
		size = defaultRSVPPageSize
	}
	page, err := s.store.ListClaims(ctx, req.GetParent(), size, req.GetPageToken(), s.now())
	if err != nil {
		return nil, err
	}
	return &rallyv1.ListClaimsResponse{Claims: page.Items, NextPageToken: page.NextPageToken}, nil
}
