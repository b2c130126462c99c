package policy

import (
	"fmt"
	"strings"
)

// unknownKeyDetail explains an unknown key and, when one known key is close
// enough to be the intended one, suggests it: most unknown keys are typos.
func unknownKeyDetail(what, key string, known []string) string {
	msg := fmt.Sprintf("unknown %s; allowed: %s", what, strings.Join(known, ", "))
	if s := didYouMean(key, known); s != "" {
		msg = fmt.Sprintf("unknown %s, did you mean %q? allowed: %s", what, s, strings.Join(known, ", "))
	}
	return msg
}

// didYouMean returns the known key nearest to key by edit distance, or ""
// when none is near enough to be a plausible typo.
func didYouMean(key string, known []string) string {
	best, bestDist := "", -1
	for _, k := range known {
		d := editDistance(strings.ToLower(key), strings.ToLower(k))
		if bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	// Allow about one typo per four characters, at least two.
	if bestDist >= 0 && bestDist <= max(2, len(best)/4) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
