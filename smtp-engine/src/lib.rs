//! Sans-IO streaming SMTP/ESMTP inspector with Cisco IOS Firewall (CBAC
//! "MailGuard") semantics. No I/O, no clock, no allocation per call.
#![forbid(unsafe_code)]
