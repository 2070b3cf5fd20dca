package contract

// ExitDoNotRestart is the exit status by which a service tells init's
// supervisor not to restart it: the service has found something only a
// person (a new site config, a TPM, another disk) can cure, has said so in
// its log, and restarting would only repeat that. Any other exit is
// restarted with backoff. (gokrazy's convention, with the same number.)
const ExitDoNotRestart = 125

// ReadyFDEnv names the environment variable in which init passes the file
// descriptor a service writes ReadyMessage to once it serves requests.
// Services that are started by hand find it unset and skip the
// notification.
const ReadyFDEnv = "SKERRY_READY_FD"

// ReadyMessage is what a service writes to its ready descriptor.
const ReadyMessage = "READY\n"

// ReadyWord is ReadyMessage without its newline, as a line reader sees it.
const ReadyWord = "READY"
