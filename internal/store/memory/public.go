package memory

import "context"

// SwapPublicView implements store.PublicViewStore.
func (s *Store) SwapPublicView(_ context.Context, event, view string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publicViews == nil {
		s.publicViews = map[string]string{}
	}
	old := s.publicViews[event]
	s.publicViews[event] = view
	return old, nil
}
