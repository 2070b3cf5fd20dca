package towerapi

// ControlSent answers POST /v1/sites/{site}/control: the control record
// is stored in the tower's downlink topic of the site (downlink/<site> of
// its embedded hub) at Offset; the site's uplink fetches it into its
// system/downlink when connected, each record exactly once.
type ControlSent struct {
	Site   string `json:"site"`
	Topic  string `json:"topic"`
	Offset uint64 `json:"offset"`
}
