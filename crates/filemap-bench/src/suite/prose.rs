//! The report's prose shared by the sections: each section's introduction, and why filemap
//! loses where it does.

use super::*;

/// What each section measures, how, and what its floor is.
pub(super) fn section_intro(section: usize, run: &Run) -> String {
    match section {
        scale::SECTION => scale::intro(),
        1 => format!(
            "One-way latency is half a round trip: the measuring process sends a message, the \
partner process echoes it (copying it into its reply), {} to {} timed round trips per row after \
a tenth as many untimed ones. The measuring process checks each reply's length: filemap's \
and iceoryx2's replies stay where they are, readable in place, while the Unix socket, pipe \
and ipc-channel rows copy each reply out of the kernel into a buffer, as reading from them \
must: one copy more per round trip than filemap's and iceoryx2's rows (section 7 measures \
filemap's channel with the echo copied out too, beside it; at 1 MiB the copy is about half a \
`memcpy` of the message per one-way trip). filemap's channel writes each message into a reserved slot; \
iceoryx2 (publish-subscribe, ipc service) writes each into a loaned sample (its zero-copy API) \
and its receiver polls, as iceoryx2's publish-subscribe has no blocking receive; ipc-channel \
uses its byte channels (no serialisation). The floor at each size is the cache-line ping-pong \
below plus one `memcpy` of the message at this machine's `memcpy` bandwidth. \
\"filemap blocking\" is the channel's default wait, which polls (about 2000 times, yielding \
the core after 512) before it sleeps in the kernel: in this ping-pong every reply comes \
within the polls, so the row measures the polling path, while the Unix socket, pipe and \
ipc-channel rows sleep in the kernel at every message; section 8 measures filemap's blocking \
receive when it does sleep (and its async receive, which never polls). The `NamedEvent` \
wake-up row likewise polls 64 times before it sleeps, where the raw futex row always sleeps. \
The rows are measured one after another, not in alternating blocks: a drift of the machine's \
speed between rows shows in their ratios (the spread column shows how far each row's \
repetitions moved).\n\n\
![One-way latency against message size, log-log]({CHART})\n",
            harness::iterations(1 << 20),
            harness::iterations(64),
        ),
        2 => "1 MiB messages one way: the sender copies each message in (a reserved slot, a \
loaned sample, `write`), the receiver copies each out into its own buffer (`recv_into`, \
`copy_from_slice` from the sample, `read`). iceoryx2's publisher waits for room instead of \
overwriting unread samples. The floor is `memcpy` of 1 MiB on one core, where nothing \
crosses cores. For reference, the raw hand-off row is what two processes do with no channel \
at all: three 1 MiB buffers in shared memory, each guarded by a flag (the partner copies a \
message in and raises the flag, this process copies it out and lowers it), so every byte \
crosses from one core to the other as in the other rows. Ratios here are of cost (time per \
byte), so 2× is half the bandwidth. filemap's channel streams through an 8 MiB ring (up to 8 \
messages in flight), iceoryx2's subscriber as many (8 samples), and the Unix socket keeps \
the system's default buffer sizes. The rows are measured one after another, not in alternating blocks: \
a drift of the machine's speed between rows shows in their ratios (the spread column shows \
how far each row's repetitions moved).\n"
            .to_string(),
        3 => "A named 4 KiB object: create, map a view, unmap, close, in one process; and open, \
map, unmap, close, by a second process while the first holds the object. Every operation is \
timed on its own, and the systems take turns in blocks of 50 operations (the opens all in \
the one second process), so that each is measured at the same moments of a machine whose \
speed drifts. filemap's objects live in a namespace directory on tmpfs (like /dev/shm, \
where `shared_memory` and `shm_open` put theirs). The floor is the raw system calls: \
`shm_open` (+ `ftruncate`) or `fstat`, `mmap`, `munmap`, `close` (+ `shm_unlink`).\n"
            .to_string(),
        4 => "Uncontended: one thread locks, adds one to a counter in the shared memory, and \
unlocks, millions of times (filemap's `NamedMutex` over a counter in a mapping of its own, \
at the same offset as the raw mutex's), every system through the same call, the systems taking \
turns in blocks of a twentieth of the run, so that all are measured at the same moments of a \
machine whose speed drifts. Hand-off: two \
processes take turns on the counter under the mutex, so every turn passes the mutex to the \
other process. The floor is a raw robust, process-shared pthread mutex in shared memory, the \
usual mechanism for a robust mutex on Linux: a floor for mutexes that survive their holder's \
death, which the raw non-robust mutex (left locked for ever by a holder that dies) can be \
below; in the hand-off, the robust pthread mutex sleeps in the kernel as soon as it finds the \
mutex taken, where filemap's spins briefly first, so filemap's hand-off can be below it too \
(filemap's own is a futex word whose owner's \
liveness is a byte-range lock taken once per handle, because a pthread mutex keeps pointers \
of its holder in the shared memory).\n"
            .to_string(),
        5 => format!(
            "A {} file of pseudo-random bytes in the temporary directory, read once untimed \
first so the page cache is warm. Every scan runs in a fresh process; every byte read is \
folded into a checksum (all systems must agree). Random reads: {} reads of 4 KiB at fixed \
pseudo-random offsets, all systems in one fresh process, each with a mapping (or descriptor) \
of its own, taking turns in blocks of 1,000 reads so that all are measured at the same \
moments; each reads every block once, a quarter of the run apart from the others, so that no \
system finds another's bytes in the CPU's caches. The last column is the throughput at the \
median time and the largest resident memory over the repetitions: the scans' peak \
(`VmHWM`); for the random reads, the process's before them plus what the system's own mapping \
has resident after them (its `Rss` in `/proc/self/smaps`). The reference rows copy the way \
filemap's `read_at` did before its assembly copy routine (word-sized relaxed atomic loads), \
over the same views.\n",
            report::size_text(run.file_size),
            files::random_reads()
        ),
        6 => pubsub_intro(),
        7 => parties_intro(),
        8 => waits_intro(),
        9 => link_intro(run.pinned),
        10 => python::intro(),
        _ => String::new(),
    }
}

/// Added to the messages' explanations when other work kept the machine busy.
pub(super) const BUSY: &str = " In this run the machine was also busy with other work (see the load \
average at the top), which hits busy-polling endpoints hardest: one that shares its core with \
another process spends its time slices spinning, and the scheduler, which charges spinning like \
work, then favours the other process just when the endpoint has something to do. An endpoint \
that sleeps while it waits keeps its turn: filemap's blocking mode (spin briefly, then sleep), \
and iceoryx2's publisher, which yields and then sleeps while the subscriber's buffer is full.";

/// Why filemap loses where it does (printed only for the scenarios where it lost in this run).
pub(super) fn why(scenario: &str) -> &'static str {
    match scenario {
        LATENCY => {
            "Both systems copy the message once each way (into a reserved slot, into a \
loaned sample), so for large messages the copy decides, and what differs is where it lands. \
iceoryx2 allocates samples from a pool whose free list is a stack (last freed, first reused): \
in a ping-pong every message is written into the same sample, which stays in the caches. \
filemap's channel is a ring: successive messages are written one after another through a ring \
of four times the message size here, so each copy writes memory that was last touched several \
messages ago and is colder in the caches. The ring is what lets filemap's channel carry \
messages of any length up to its capacity, with no per-sample maximum fixed in advance."
        }
        WAKE_UP => {
            "filemap's `NamedEvent` spins briefly before sleeping; when the other process \
answers within the spin the wake-up costs a cache-line transfer, not a system call, and the \
raw futex row (which always sleeps) is then slower; when the spin runs out it pays for the \
kernel's wake-up like the futex row."
        }
        THROUGHPUT => {
            "Both sides copy every byte once (in and out), so the rates are bounded by \
`memcpy`, and the differences come from where the copies land: iceoryx2 reuses its most \
recently freed samples (its pool's free list is a stack) while filemap's channel writes \
through an 8 MiB ring, so its copies touch more memory and miss the caches more often."
        }
        CREATE => {
            "Creating a filemap object does more than `shm_open`, and the table \
\"where the time goes\" in section 3 prices each step: the inode is made nameless \
(`O_TMPFILE`), sized and allocated up front with its header in one write (committed, so a \
later write never dies of SIGBUS when memory is short), locked (`flock`, so its lifetime \
follows its handles across processes and crashes) and only then linked under its name; \
closing checks with `flock` whether it was the last handle and whether the name is still its \
own before removing it, and the last `close` frees the pages allocated up front. The \
allocation (writing and later freeing two pages, the header's and the data's) and the \
nameless creation and linking account for most of the difference; the reference row makes \
the raw calls with the allocation alone (one page, with no header). `shared_memory` and the \
raw calls create a name that stays until someone unlinks it, and allocate nothing."
        }
        OPEN => {
            "Opening a filemap object checks what it opens (no symlink, owner and \
permissions, the header's kind and size) and takes a shared `flock` to hold the object alive; \
closing tries an exclusive lock to learn whether it was the last handle (section 3's table \
\"where the time goes\" prices each step). `shared_memory` and the raw calls only open and \
map."
        }
        UNCONTENDED => {
            "filemap's `NamedMutex` lock is one compare-and-swap on a futex word and its \
unlock one swap, plus a few loads and stores on a thread-local list of held mutexes, so that \
relocking from the owning thread is `Error::WouldDeadlock` on both platforms (Windows mutexes \
are recursive). `SharedMutex` adds a copy of the value out of the shared memory when it locks \
and back (if it changed) when it unlocks, so that safe code never holds a reference into memory \
another process may write: relaxed atomic loads and stores of whole words for values up to 64 \
bytes (the fault handler turns the loss of that memory to a truncated entry into an error), the \
copy routine for larger ones. \
`raw_sync`'s mutex is a plain process-shared pthread mutex, not robust (a holder that dies \
leaves it locked forever)."
        }
        HANDOFF => {
            "A hand-off costs the cache-line transfers of the lock word and the \
counter, and a wake call when a waiter may sleep: filemap's waiter, like a glibc mutex's, sets \
the waiters bit as soon as it finds the mutex held, so that the holder's unlock makes the call, \
and the time that takes lets the waiter in before a holder that locks again in a loop has the \
mutex back; it spins briefly before it sleeps."
        }
        SCAN => {
            "The safe `read_at` path copies every byte through filemap's copy routine \
(sound even if another process writes the file meanwhile); the zero-copy path reads the mapping in \
place like `memmap2`, but one 64 MiB window at a time, mapping and unmapping each (resident \
memory stays bounded by the window)."
        }
        RANDOM => {
            "filemap's `read_at` checks the range and copies through its assembly copy \
routine (sound under concurrent writers: SSE moves, `rep movsb` from 4096 bytes) where \
memmap2's `copy_from_slice` is a plain `memcpy` over a `&[u8]` that its caller promised \
nobody writes."
        }
        s if subscribers_of(s).is_some() => {
            "Both systems copy a message in once and each subscriber copies it out once, so \
for 1 MiB messages the copies decide, and what differs is where they land, as in section 1: \
iceoryx2 takes samples from a pool whose free list is a stack, so with one message in flight \
every message is written into the same sample, which stays in the caches, while filemap's \
topic writes successive messages one after another through a ring of four times the message \
size, into memory last touched several messages ago. The ring is what lets one topic carry \
messages of any length up to its capacity, keep history for late joiners and tell a lagging \
subscriber exactly what it missed."
        }
        s if senders_of(s).is_some() => {
            "Every system here copies each message in once and out once; what differs is \
how a sender and the receiver meet. filemap's receiver looks at the senders' rings in turn \
(one ring each, so senders never contend with each other), and a blocking endpoint that \
finds nothing to do sleeps once its brief spin is over and is then woken with a system call. \
With the senders taking turns on one core (see above), how often each of them waits, and \
for how long, is up to the scheduler as much as to the systems."
        }
        ASYNC_PING_PONG => {
            "A default async receive never spins, so in a ping-pong every message it waits \
for is a sleep in the kernel, and its wake-up takes two hops where a socket's takes one: the \
sender's futex wake reaches filemap's waiter thread (asleep in `futex_waitv` for all the \
process's pending futures), which wakes the task's waker, which wakes the runtime's thread \
(tokio's I/O driver, or `block_on`'s parked thread); and registering each receive with the \
waiter thread wakes that thread once more, to sleep over the new set. tokio's `UnixStream` \
is woken by the kernel in its `epoll_wait` directly. On this machine a wake-up in the \
kernel costs tens of microseconds (see section 1's raw futex row), so the hops decide. By \
design nothing spins by default (each idle receiver is looked at every 100 ms for a dead \
peer; what idle receivers cost is measured by the example `idle_futures`, not by this run: \
`cargo run --release -p filemap --example idle_futures`); the opt-in rows \
(`WaitMode::Spin`, `BusyPoll`) catch the reply while they spin."
        }
        ROUND_TRIP => {
            "A service's request and response each travel through a channel ring as \
section 1's messages do, and on top of that carry a request id each way: the client keeps \
the ids it waits for in a set (inserted on sending, looked up and removed on receiving, so \
that it never takes another client's or an abandoned request's response), and the server \
reads a request's id before its payload and writes the response's header and payload into \
its slot separately. The ratio under the table shows what that costs against the channel."
        }
        python::HAND_OFF => {
            "filemap allocates all of an object's memory when it creates it (`fallocate`), so that no view of it can ever meet a SIGBUS when memory runs short; the copy of the array then writes pages that exist, each mapped by a fault. `shared_memory` only sets the segment's size (`ftruncate`), and its pages are allocated by the faults of the copy itself: one pass over the memory instead of two. The receiving side is the same for both (it maps the object and makes no copy)."
        }
        python::ROUND_TRIP => {
            "At 1 MiB both filemap and the polled shared-memory flag copy the message four times per round trip (into shared memory and out of it, each way), and the copies decide; the flag's two polling loops never sleep, filemap's receivers spin briefly and then sleep."
        }
        _ => "",
    }
}

/// The path a message takes through two bridges, against Zenoh's own (section 9's
/// losses): told once, for the first of the section's scenarios that loses.
const LINK_PATH: &str = "The bridges carry each message over Zenoh as the Zenoh rows do, and \
on top of that through a filemap topic on each side and two threads on the sending side. There \
the publisher copies the message into its topic; the export's reader thread, a subscriber of \
the topic (spinning briefly, then asleep), copies it out into a buffer of its own and queues \
it; the export's put thread (looking at the queue for some tens of microseconds, then asleep \
on a condition variable) takes it and puts it to Zenoh, where the Zenoh row's sending thread \
puts its message itself. On the receiving side the import publishes each sample into the \
local topic from Zenoh's callback, on the thread that received it (a copy in; the Zenoh row's \
subscriber gets the sample through its FIFO channel instead), and the subscriber, woken, \
copies it out. So a message through two bridges is copied twice more (out of the sending \
side's topic and into the receiving side's) and passes between threads twice more, and a \
thread asleep when a message comes is woken in the kernel (section 1's raw futex row: tens \
of microseconds on this machine). Where the run is pinned, each side has one core, so the \
threads of a side take turns on it: a thread that spins while it waits (the put thread, an \
endpoint's brief spin) takes the core from the thread it waits for. The copy out of the \
topic is the one the bridge cannot leave out: Zenoh reads what it is given with ordinary \
memory accesses, which must not race with another process's writes into shared memory, so \
it is given a private copy.";

/// Why the bridges cost more than Zenoh in section 9's `scenario`: the path (`first`:
/// not told yet in this list), then what of it weighs most in this scenario. An account
/// of the design, which the run does not measure part by part.
pub(super) fn why_link(scenario: &str, first: bool) -> String {
    let weighs = match scenario {
        LINK_LATENCY => {
            "One message at a time, each hand-off between threads and each wake-up of a \
thread asleep adds to the one-way time; at 1 MiB the two extra copies add tens of \
microseconds each."
        }
        LINK_THROUGHPUT => {
            "At 1 MiB the copies weigh most: the sending side copies each message four \
times through the bridge (into its topic, out of it, into Zenoh's batches as Zenoh \
serialises it, into the socket's buffers in the kernel) and three times in Zenoh's own row \
(into a fresh buffer, into the batches, into the socket), all on its one core."
        }
        _ => {
            "At 64 B the copies cost little; what the bridges add is per message: its pass \
through the export's queue from one thread to the other, and its publish into the receiving \
side's topic, one message at a time, where Zenoh's row hands its messages to Zenoh \
directly."
        }
    };
    if first {
        format!("{LINK_PATH} {weighs}")
    } else {
        format!("(The path is described above.) {weighs}")
    }
}
