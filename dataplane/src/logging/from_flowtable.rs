//! Records from the half-open protections of `flowtable` (which formats its
//! own events for its tests): the worker turns a `flowtable::Event` into a
//! [`LogRecord`] with `.into()` and queues it. The test checks both crates
//! print the same text, so they cannot drift apart.

use flowtable::{DeleteReason, Event};

use super::record::{HalfOpenDeleteReason, LogRecord};

impl From<Event> for LogRecord {
    fn from(event: Event) -> Self {
        match event {
            Event::AlertOn { count, high, rate } => LogRecord::AlertOn { count, high, rate },
            Event::AlertOff { count, low, rate } => LogRecord::AlertOff { count, low, rate },
            Event::HostTcpAlertOn { host, limit } => LogRecord::HostTcpAlertOn { limit, host },
            Event::BlockHost {
                host,
                minutes,
                limit,
            } => LogRecord::BlockHost {
                host,
                minutes,
                limit,
            },
            Event::UnblockHost { host } => LogRecord::UnblockHost { host },
        }
    }
}

impl From<DeleteReason> for HalfOpenDeleteReason {
    fn from(reason: DeleteReason) -> Self {
        match reason {
            DeleteReason::Aggressive => HalfOpenDeleteReason::Aggressive,
            DeleteReason::Host => HalfOpenDeleteReason::Host,
            DeleteReason::Block => HalfOpenDeleteReason::Block,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_as_flowtable() {
        let host = [172, 22, 1, 110].into();
        for event in [
            Event::AlertOn {
                count: 500,
                high: 500,
                rate: 501,
            },
            Event::AlertOff {
                count: 0,
                low: 400,
                rate: 0,
            },
            Event::HostTcpAlertOn { host, limit: 50 },
            Event::BlockHost {
                host,
                minutes: 2,
                limit: 50,
            },
            Event::BlockHost {
                host,
                minutes: 1,
                limit: 50,
            },
            Event::UnblockHost { host },
        ] {
            assert_eq!(LogRecord::from(event).to_string(), event.to_string());
        }
        assert_eq!(
            HalfOpenDeleteReason::from(DeleteReason::Block).as_str(),
            "block"
        );
    }
}
