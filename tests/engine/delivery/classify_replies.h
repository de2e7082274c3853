/*
 * tests/engine/delivery/classify_replies.h: real SMTP replies from mailbox
 * providers, MTAs and filters, each with what engine/delivery/classify.c
 * must make of it and where the reply comes from (the provider's
 * published documentation or postmaster page, an RFC, or the MTA's source
 * file). IP addresses and addresses in the texts are placeholders; the
 * words are the sources'. tests/engine/delivery/test_classify.c runs
 * every row.
 *
 * Columns: step, code, enhanced code ("" = none), text (after the code
 * and enhanced code), status, category.
 */
#ifndef EDM_TESTS_CLASSIFY_REPLIES_H
#define EDM_TESTS_CLASSIFY_REPLIES_H

#define R_RCPT EDM_STEP_RCPT
#define R_MAIL EDM_STEP_MAIL
#define R_DOT  EDM_STEP_DATA_END
#define R_CONN EDM_STEP_GREETING
#define R_HELO EDM_STEP_HELO
#define R_DATA EDM_STEP_DATA
#define R_AUTH EDM_STEP_AUTH
#define OK_    EDM_DSTATE_DELIVERED
#define DEF    EDM_DSTATE_DEFERRED
#define BNC    EDM_DSTATE_BOUNCED
#define C(x)   EDM_CATEGORY_##x

static const struct reply_case {
    enum edm_smtp_step step;
    int code;
    const char *enh, *text;
    enum edm_dstate st;
    enum edm_category cat;
} reply_cases[] = {
    /* ---- Gmail / Google Workspace: support.google.com/a/answer/3726730
     * ("Gmail SMTP errors and codes") ---- */
    {R_DOT, 250, "2.0.0", "OK 1376056636 i3si9508927obz.16 - gsmtp", OK_, C(NONE)},
    {R_CONN, 421, "4.3.0", "Temporary System Problem. Try again later", DEF, C(RATE_LIMITED)},
    {R_MAIL, 421, "4.4.5", "Server busy, try again later.", DEF, C(RATE_LIMITED)},
    {R_RCPT, 421, "4.7.0", "IP not in whitelist for RCPT domain, closing connection.", DEF,
     C(POLICY)},
    {R_MAIL, 421, "4.7.0",
     "[192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from "
     "your IP address. To protect our users from spam, mail sent from your IP address has been "
     "temporarily blocked.",
     DEF, C(SPAM_BLOCK)},
    {R_RCPT, 421, "4.7.0", "TLS required for RCPT domain, closing connection.", DEF, C(TLS)},
    {R_CONN, 421, "4.7.0", "Try again later, closing connection.", DEF, C(RATE_LIMITED)},
    {R_RCPT, 450, "4.2.1",
     "The user you are trying to contact is receiving mail too quickly. Please resend your "
     "message at a later time.",
     DEF, C(RATE_LIMITED)},
    {R_RCPT, 450, "4.2.1",
     "The user you are trying to contact is receiving mail at a rate that prevents additional "
     "messages from being delivered. Please resend your message at a later time.",
     DEF, C(RATE_LIMITED)},
    {R_RCPT, 450, "4.2.1",
     "Peak SMTP relay limit exceeded for customer. This is a temporary "
     "error.",
     DEF, C(RATE_LIMITED)},
    {R_DOT, 451, "4.3.0", "Mail server temporarily rejected message.", DEF, C(OTHER)},
    {R_RCPT, 451, "4.3.0",
     "Multiple destination domains per transaction is unsupported. Please "
     "try again.",
     DEF, C(OTHER)},
    {R_DOT, 451, "4.4.2", "Timeout - closing connection.", DEF, C(NETWORK)},
    {R_RCPT, 452, "4.2.2",
     "The email account that you tried to reach is over quota. Please direct "
     "the recipient to https://support.google.com/mail/?p=OverQuotaTemp",
     DEF, C(MAILBOX_FULL)},
    {R_RCPT, 452, "4.5.3", "Your message has too many recipients.", DEF, C(PROTOCOL)},
    {R_DATA, 454, "4.5.0",
     "SMTP protocol violation, no commands allowed to pipeline after "
     "STARTTLS, see RFC 3207.",
     DEF, C(PROTOCOL)},
    {R_MAIL, 530, "5.7.0", "Must issue a STARTTLS command first.", BNC, C(TLS)},
    {R_RCPT, 550, "5.1.1",
     "The email account that you tried to reach does not exist. Please try double-checking the "
     "recipient's email address for typos or unnecessary spaces.",
     BNC, C(BAD_MAILBOX)},
    {R_RCPT, 550, "5.2.1", "The email account that you tried to reach is disabled.", BNC,
     C(BAD_MAILBOX)},
    {R_DOT, 550, "5.7.1",
     "[192.0.2.1] Our system has detected that this message is likely unsolicited mail. To reduce "
     "the amount of spam sent to Gmail, this message has been blocked.",
     BNC, C(SPAM_BLOCK)},
    {R_MAIL, 550, "5.7.1",
     "[192.0.2.1] The IP you're using to send mail is not authorized to send email directly to "
     "our servers. Please use the SMTP relay at your service provider instead.",
     BNC, C(POLICY)},
    {R_DOT, 550, "5.7.26",
     "This mail has been blocked because the sender is unauthenticated. Gmail requires all "
     "senders to authenticate with either SPF or DKIM.",
     BNC, C(POLICY)},
    {R_DOT, 550, "5.7.25",
     "[192.0.2.1] The IP address sending this message does not have a PTR record setup, or the "
     "corresponding forward DNS entry does not point to the sending IP.",
     BNC, C(POLICY)},
    {R_DOT, 552, "5.2.3", "Your message exceeded Google's message size limits.", BNC, C(POLICY)},
    {R_DOT, 552, "5.7.0",
     "This message was blocked because its content presents a potential "
     "security issue.",
     BNC, C(POLICY)},
    /* Gmail's 2023 bulk-sender reply: spam wording, but it says "rate limited" */
    {R_DOT, 421, "4.7.28",
     "[192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from "
     "your IP address. To protect our users from spam, mail sent from your IP address has been "
     "temporarily rate limited.",
     DEF, C(RATE_LIMITED)},

    /* ---- Yahoo / AOL: senders.yahooinc.com/smtp-error-codes and
     * help.yahoo.com SLN3436 ---- */
    {R_MAIL, 421, "4.7.0",
     "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user "
     "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
     DEF, C(RATE_LIMITED)},
    {R_MAIL, 421, "4.7.1",
     "[TS03] All messages from 192.0.2.1 will be permanently deferred; "
     "Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
     DEF, C(RATE_LIMITED)},
    {R_CONN, 421, "4.7.0", "[TS02] Temporarily deferred", DEF, C(RATE_LIMITED)},
    {R_CONN, 553, "5.7.1",
     "[BL21] Connections will not be accepted from 192.0.2.1, because the "
     "ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
     DEF, C(SPAM_BLOCK)},
    {R_RCPT, 554, "5.7.9",
     "Message not accepted for policy reasons.  See "
     "https://postmaster.yahooinc.com/error-codes",
     BNC, C(POLICY)},
    {R_RCPT, 552, "", "1 Requested mail action aborted, mailbox not found", BNC, C(BAD_MAILBOX)},
    {R_RCPT, 554, "",
     "delivery error: dd This user doesn't have a yahoo.com account "
     "(user@yahoo.com) [0] - mta1234.mail.bf1.yahoo.com",
     BNC, C(BAD_MAILBOX)},
    {R_RCPT, 554, "",
     "delivery error: dd Sorry your message to user@yahoo.com cannot be "
     "delivered. This mailbox is disabled (554.30). - mta1234.mail.gq1.yahoo.com",
     BNC, C(BAD_MAILBOX)},
    {R_DOT, 554, "5.7.9", "Message not accepted for policy reasons. DMARC reject", BNC, C(POLICY)},

    /* ---- Microsoft (Outlook.com, Exchange Online): learn.microsoft.com,
     * "Email non-delivery reports and SMTP errors in Exchange Online",
     * and sender.office.com ---- */
    {R_RCPT, 550, "5.5.0",
     "Requested action not taken: mailbox unavailable (S2017062302). "
     "[AM4PEPF00027A5F.eurprd04.prod.outlook.com]",
     BNC, C(BAD_MAILBOX)},
    {R_RCPT, 550, "5.1.10",
     "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address "
     "lookup",
     BNC, C(BAD_MAILBOX)},
    {R_RCPT, 550, "5.1.1", "RESOLVER.ADR.RecipNotFound; not found", BNC, C(BAD_MAILBOX)},
    {R_RCPT, 550, "5.4.1",
     "Recipient address rejected: Access denied. "
     "[SN1NAM02FT0123.eop-nam02.prod.protection.outlook.com]",
     BNC, C(BAD_MAILBOX)},
    {R_MAIL, 451, "4.7.650",
     "The mail server [192.0.2.1] has been temporarily rate limited due "
     "to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)",
     DEF, C(RATE_LIMITED)},
    {R_MAIL, 550, "5.7.1",
     "Unfortunately, messages from [192.0.2.1] weren't sent. Please contact "
     "your Internet service provider since part of their network is on our block list (S3150).",
     BNC, C(SPAM_BLOCK)},
    {R_MAIL, 550, "5.7.606",
     "Access denied, banned sending IP [192.0.2.1]. To request removal "
     "from this list please visit https://sender.office.com/ and follow the directions.",
     BNC, C(SPAM_BLOCK)},
    {R_MAIL, 550, "5.7.708",
     "Service unavailable. Access denied, traffic not accepted from this "
     "IP.",
     BNC, C(SPAM_BLOCK)},
    {R_MAIL, 451, "4.7.500", "Server busy. Please try again later from [192.0.2.1]. (S77714)", DEF,
     C(RATE_LIMITED)},
    {R_RCPT, 550, "5.7.1",
     "Service unavailable; Client host [192.0.2.1] blocked using Spamhaus. "
     "To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.1 "
     "(AS3130)",
     BNC, C(SPAM_BLOCK)},
    {R_DOT, 550, "5.7.520", "Access denied, Your organization does not allow external forwarding.",
     BNC, C(POLICY)},
    {R_DOT, 554, "5.2.122",
     "The recipient has exceeded their limit for the number of messages "
     "they can receive per hour.",
     DEF, C(RATE_LIMITED)},
    {R_RCPT, 550, "5.7.1", "RESOLVER.RST.AuthRequired; authentication required", BNC, C(POLICY)},
    {R_DOT, 552, "5.3.4", "Message size exceeds fixed maximum message size", BNC, C(POLICY)},
    {R_DOT, 250, "2.6.0",
     "<a1b2@EX1.contoso.com> [InternalId=12884901890, Hostname=AM0PR01] "
     "Queued mail for delivery",
     OK_, C(NONE)},
    {R_AUTH, 535, "5.7.139",
     "Authentication unsuccessful, SmtpClientAuthentication is disabled "
     "for the Tenant.",
     DEF, C(AUTH)},
    {R_AUTH, 535, "5.7.3", "Authentication unsuccessful", DEF, C(AUTH)},

    /* ---- QQ / Tencent Exmail: service.mail.qq.com help pages (退信),
     * quoted by qqmailbox.com/transceivers/169.html; no enhanced codes ---- */
    {R_MAIL, 550, "",
     "Ip frequency limited "
     "[http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000725]",
     DEF, C(RATE_LIMITED)},
    {R_MAIL, 550, "",
     "Connection frequency limited "
     "[http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000722]",
     DEF, C(RATE_LIMITED)},
    {R_MAIL, 550, "",
     "Domain frequency limited "
     "[http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000726]",
     DEF, C(RATE_LIMITED)},
    {R_DOT, 550, "",
     "Mail content denied. "
     "http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000726",
     BNC, C(SPAM_BLOCK)},
    {R_DOT, 550, "",
     "Error: content rejected.http://mail.qq.com/zh_CN/help/content/rejectedmail.html", BNC,
     C(SPAM_BLOCK)},
    {R_RCPT, 550, "",
     "Mailbox not found. "
     "http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000728",
     BNC, C(BAD_MAILBOX)},
    {R_RCPT, 550, "",
     "Mailbox unavailable or access denied "
     "[http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=20022&&no=1000727]",
     BNC, C(BAD_MAILBOX)},
    {R_MAIL, 501, "", "Bad address syntax", BNC, C(PROTOCOL)},
    {R_HELO, 500, "", "Error: bad syntax", DEF, C(PROTOCOL)},

    /* ---- NetEase 163.com / 126.com / yeah.net: help.163.com 退信代码说明
     * (the codes and meanings quoted by biecuoliao.com/pa/MBRrwEM.html) ---- */
    {R_CONN, 421, "", "HL:REP 192.0.2.1 (Mail Server)", DEF, C(SPAM_BLOCK)},
    {R_CONN, 421, "", "HL:ICC 192.0.2.1", DEF, C(RATE_LIMITED)},
    {R_CONN, 421, "", "HL:IFC 192.0.2.1", DEF, C(RATE_LIMITED)},
    {R_CONN, 421, "", "HL:MEP 192.0.2.1", DEF, C(SPAM_BLOCK)},
    {R_MAIL, 450, "", "MI:CEL 192.0.2.1", DEF, C(PROTOCOL)},
    {R_MAIL, 450, "", "MI:DMC 192.0.2.1", DEF, C(RATE_LIMITED)},
    {R_MAIL, 450, "", "MI:CCL 192.0.2.1", DEF, C(PROTOCOL)},
    {R_RCPT, 450, "", "RP:DRC 192.0.2.1", DEF, C(RATE_LIMITED)},
    {R_RCPT, 450, "", "RP:CCL 192.0.2.1", DEF, C(PROTOCOL)},
    {R_MAIL, 450, "", "DT:RBL 192.0.2.1", DEF, C(SPAM_BLOCK)},
    {R_MAIL, 450, "", "WM:BLI 192.0.2.1", DEF, C(POLICY)},
    {R_MAIL, 450, "", "WM:BLU 192.0.2.1", DEF, C(POLICY)},
    {R_DOT, 451, "", "DT:SPM 163 mx1,x_Iv7ABJJUBpSC9jqnQ--.12345S2 1700000000, please try again.",
     DEF, C(SPAM_BLOCK)},
    {R_RCPT, 451, "", "RP:CEL 192.0.2.1", DEF, C(PROTOCOL)},
    {R_MAIL, 451, "", "MI:DMC 192.0.2.1", DEF, C(RATE_LIMITED)},
    {R_MAIL, 451, "", "MI:SFQ 192.0.2.1", DEF, C(RATE_LIMITED)},
    {R_MAIL, 550, "", "MI:STC 192.0.2.1", DEF, C(RATE_LIMITED)},
    {R_DOT, 554, "",
     "DT:SPM 163 smtp1,x_Iv7ABJJUBpSC9jqnQ--.12345S2 1700000000, please see "
     "http://mail.163.com/help/help_spam_16.htm?ip=192.0.2.1",
     BNC, C(SPAM_BLOCK)},
    {R_AUTH, 451, "", "Requested mail action not taken: too much fail authentication", DEF,
     C(AUTH)},

    /* ---- Sina: blog.sina.com.cn/s/blog_8dc13ec50101fxxr.html (its
     * server's replies) ---- */
    {R_RCPT, 550, "", "mailbox unavailable.", BNC, C(BAD_MAILBOX)},
    {R_MAIL, 550, "", "black ip.", BNC, C(SPAM_BLOCK)},
    {R_DOT, 552, "", "message rejected by anti-spam engine.", BNC, C(SPAM_BLOCK)},
    {R_DOT, 552, "", "message is too long.", BNC, C(POLICY)},
    {R_CONN, 554, "", "rbl deny.", DEF, C(SPAM_BLOCK)},

    /* ---- Coremail (Sohu, NetEase's enterprise mail, many Chinese hosts):
     * icoremail.vip support pages (退信提示) ---- */
    {R_RCPT, 550, "", "User not found: user@sohu.com", BNC, C(BAD_MAILBOX)},
    {R_RCPT, 550, "", "User suspended: user@sohu.com", BNC, C(BAD_MAILBOX)},
    {R_MAIL, 554, "", "IP is rejected, smtp auth error limit exceed", BNC, C(POLICY)},
    {R_MAIL, 553, "", "Requested action not taken: NULL sender is not allowed", BNC, C(POLICY)},
    {R_RCPT, 553, "", "Requested action not taken: Local user only", BNC, C(BAD_DOMAIN)},

    /* ---- Aliyun (阿里邮箱): help.aliyun.com document_detail/36612 ---- */
    {R_DOT, 554, "", "spamed by local spam engine", BNC, C(SPAM_BLOCK)},
    {R_RCPT, 504, "", "the number of RCPT attempts is achieved the maximum threshold", DEF,
     C(RATE_LIMITED)},

    /* ---- iCloud: support.apple.com/en-us/HT204137, as smtp.codes/icloud
     * collects them ---- */
    {R_RCPT, 550, "5.1.1", "<user@icloud.com>: user does not exist", BNC, C(BAD_MAILBOX)},
    {R_DOT, 550, "5.7.1",
     "[CS01] Message rejected due to local policy. Please visit "
     "https://support.apple.com/en-us/HT204137",
     BNC, C(POLICY)},
    {R_RCPT, 421, "4.7.1",
     "Messages to user@icloud.com deferred due to excessive volume. Try "
     "again later - https://support.apple.com/en-us/HT204137",
     DEF, C(RATE_LIMITED)},
    {R_DOT, 550, "5.7.1",
     "Your email was rejected due to having a domain present in the Spamhaus "
     "DBL -- see https://www.spamhaus.org/dbl/",
     BNC, C(SPAM_BLOCK)},
    {R_MAIL, 451, "4.7.1", "Service unavailable - try again later", DEF, C(RATE_LIMITED)},

    /* ---- web.de / GMX (United Internet): postmaster.web.de,
     * postmaster.gmx.com, as smtp.codes/unitedinternet collects them ---- */
    {R_RCPT, 550, "", "<user@web.de>: Requested action not taken: mailbox unavailable", BNC,
     C(BAD_MAILBOX)},
    {R_DOT, 550, "",
     "<user@gmx.de>: Reject due to SPF policy. The originating IP of the message "
     "is not permitted by the domain owner",
     BNC, C(POLICY)},
    {R_CONN, 554, "",
     "gmx.net (mxgmx001) Nemesis ESMTP Service not available No SMTP service "
     "Bad DNS PTR resource record.",
     DEF, C(POLICY)},

    /* ---- Postfix: src/smtpd/smtpd.c and smtpd_check.c, postscreen ---- */
    {R_DOT, 250, "2.0.0", "Ok: queued as 4Xk2Lm0zZ7z9sWq", OK_, C(NONE)},
    {R_RCPT, 550, "5.1.1",
     "<nobody@example.com>: Recipient address rejected: User unknown in "
     "local recipient table",
     BNC, C(BAD_MAILBOX)},
    {R_RCPT, 550, "5.1.1",
     "<nobody@example.com>: Recipient address rejected: User unknown in "
     "virtual mailbox table",
     BNC, C(BAD_MAILBOX)},
    {R_RCPT, 554, "5.7.1", "<user@example.net>: Relay access denied", BNC, C(POLICY)},
    {R_RCPT, 450, "4.7.1", "Client host rejected: cannot find your hostname, [192.0.2.1]", DEF,
     C(POLICY)},
    {R_CONN, 554, "5.7.1",
     "Service unavailable; client [192.0.2.1] blocked using "
     "zen.spamhaus.org",
     DEF, C(SPAM_BLOCK)},
    {R_RCPT, 452, "4.5.3", "Error: too many recipients", DEF, C(PROTOCOL)},
    {R_MAIL, 552, "5.3.4", "Message size exceeds fixed limit", BNC, C(POLICY)},
    {R_RCPT, 421, "4.7.0", "mx.example.com Error: too many errors", DEF, C(RATE_LIMITED)},
    {R_MAIL, 452, "4.3.1", "Insufficient system storage", DEF, C(OTHER)},
    {R_CONN, 421, "4.7.0", "mx.example.com Error: too many connections from 192.0.2.1", DEF,
     C(RATE_LIMITED)},
    {R_MAIL, 450, "4.7.1", "Error: too much mail from 192.0.2.1", DEF, C(RATE_LIMITED)},
    {R_RCPT, 450, "4.7.1", "Error: too many recipients from 192.0.2.1", DEF, C(RATE_LIMITED)},
    {R_MAIL, 450, "4.1.8", "<s@nx.example>: Sender address rejected: Domain not found", DEF,
     C(BAD_DOMAIN)},
    {R_RCPT, 450, "4.1.2", "<user@nx.example>: Recipient address rejected: Domain not found", DEF,
     C(BAD_DOMAIN)},

    /* ---- Exim: src/route.c, smtp_in.c, daemon.c, receive.c,
     * configure.default ---- */
    {R_DOT, 250, "", "OK id=1t2Xyz-000Abc-7Q", OK_, C(NONE)},
    {R_RCPT, 550, "", "Unrouteable address", BNC, C(BAD_MAILBOX)},
    {R_RCPT, 550, "", "relay not permitted", BNC, C(BAD_DOMAIN)},
    {R_CONN, 421, "", "Too many concurrent SMTP connections; please try again later.", DEF,
     C(RATE_LIMITED)},
    {R_MAIL, 554, "", "Too many nonmail commands", BNC, C(PROTOCOL)},
    {R_DOT, 552, "", "Message size exceeds maximum permitted", BNC, C(POLICY)},
    {R_DOT, 550, "", "Administrative prohibition", BNC, C(POLICY)},
    {R_DOT, 451, "", "Temporary local problem - please try later", DEF, C(OTHER)},
    {R_RCPT, 550, "", "rejected because 192.0.2.1 is in a black list at zen.spamhaus.org", BNC,
     C(SPAM_BLOCK)},
    {R_MAIL, 550, "", "Sender verify failed", BNC, C(POLICY)},
    {R_RCPT, 550, "", "Unknown user", BNC, C(BAD_MAILBOX)},

    /* ---- OpenSMTPD: usr.sbin/smtpd/smtp_session.c ---- */
    {R_DOT, 250, "2.0.0", "6f86798f Message accepted for delivery", OK_, C(NONE)},
    {R_DOT, 421, "4.7.0", "Temporary failure", DEF, C(RATE_LIMITED)},
    {R_RCPT, 550, "", "Invalid recipient", BNC, C(BAD_MAILBOX)},
    /* RFC 3463 X.7.1's description, as OpenSMTPD's esc_description() and
     * Exchange transport rules give it */
    {R_RCPT, 550, "5.7.1", "Delivery not authorized, message refused", BNC, C(POLICY)},

    /* ---- Sendmail: sendmail/srvrsmtp.c, parseaddr.c, conf.c ---- */
    {R_DOT, 250, "2.0.0", "3A1B2C3D004567 Message accepted for delivery", OK_, C(NONE)},
    {R_RCPT, 550, "5.1.1", "<nobody@example.com>... User unknown", BNC, C(BAD_MAILBOX)},
    {R_RCPT, 550, "5.7.1", "<user@example.net>... Relaying denied", BNC, C(POLICY)},
    {R_MAIL, 553, "5.1.8",
     "<s@nx.example>... Domain of sender address s@nx.example does not "
     "exist",
     BNC, C(BAD_DOMAIN)},
    {R_MAIL, 452, "4.4.5", "Insufficient disk space; try again later", DEF, C(NETWORK)},
    {R_CONN, 421, "4.3.2", "Connection rate limit exceeded.", DEF, C(RATE_LIMITED)},
    {R_RCPT, 452, "4.5.3", "Too many recipients", DEF, C(PROTOCOL)},

    /* ---- Proofpoint: ipcheck.proofpoint.com, help.proofpoint.com ---- */
    {R_CONN, 554, "5.7.0", "Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", DEF,
     C(SPAM_BLOCK)},
    {R_DOT, 550, "5.7.1", "Message blocked due to spam content in the message.", BNC,
     C(SPAM_BLOCK)},

    /* ---- Mimecast: community.mimecast.com "Mimecast SMTP error codes" ---- */
    {R_RCPT, 550, "", "Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550", BNC,
     C(BAD_MAILBOX)},
    {R_DOT, 550, "",
     "Rejected by header based Anti-Spoofing policy: user@example.com - "
     "https://community.mimecast.com/docs/DOC-1369#550",
     BNC, C(POLICY)},
    {R_MAIL, 451, "",
     "Internal resource temporarily unavailable - "
     "https://community.mimecast.com/docs/DOC-1369#451",
     DEF, C(OTHER)},
    {R_DOT, 554, "",
     "Email rejected due to security policies - "
     "https://community.mimecast.com/docs/DOC-1369#554",
     BNC, C(POLICY)},

    /* ---- Barracuda: campus.barracuda.com, as smtp.codes collects them ---- */
    {R_RCPT, 550, "", "cuda_nsu 5.1.1 <user@example.com> Recipient address rejected: User unknown",
     BNC, C(BAD_MAILBOX)},
    {R_RCPT, 550, "", "No such user (user@example.com)", BNC, C(BAD_MAILBOX)},
    {R_CONN, 554, "",
     "Service unavailable; Client host [192.0.2.1] blocked using Barracuda "
     "Reputation; http://www.barracudanetworks.com/reputation/?r=1&ip=192.0.2.1",
     DEF, C(SPAM_BLOCK)},

    /* ---- Spamhaus-listed rejections: www.spamhaus.org/faq (how listings
     * appear in SMTP replies) ---- */
    {R_RCPT, 554, "5.7.1",
     "Service unavailable; Client host [192.0.2.1] blocked using "
     "sbl-xbl.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.1",
     BNC, C(SPAM_BLOCK)},
    {R_MAIL, 550, "5.7.1", "192.0.2.1 listed at zen.spamhaus.org", BNC, C(SPAM_BLOCK)},

    /* ---- Mail.ru: help.mail.ru/mail/postmaster (via smtp.codes) ---- */
    {R_DOT, 550, "",
     "spam message rejected. Please visit https://help.mail.ru/notspam-support/id "
     "or report details to abuse@corp.mail.ru. Error code: 123ABC. ID: 456DEF.",
     BNC, C(SPAM_BLOCK)},
    {R_RCPT, 550, "",
     "Message was not accepted -- invalid mailbox.  Local mailbox "
     "user@mail.ru is unavailable: account is disabled",
     BNC, C(BAD_MAILBOX)},

    /* ---- RFC 5321 section 4.2 reply texts, RFC 3463 codes ---- */
    {R_CONN, 554, "", "No SMTP service here", DEF, C(POLICY)},
    {R_RCPT, 450, "", "Requested mail action not taken: mailbox unavailable", DEF, C(BAD_MAILBOX)},
    {R_RCPT, 551, "", "User not local; please try <forward-path>", BNC, C(BAD_MAILBOX)},
    {R_DOT, 552, "", "Requested mail action aborted: exceeded storage allocation", BNC,
     C(MAILBOX_FULL)},
    {R_RCPT, 553, "", "Requested action not taken: mailbox name not allowed", BNC, C(BAD_MAILBOX)},
    {R_DATA, 503, "", "Bad sequence of commands", BNC, C(PROTOCOL)},
    {R_RCPT, 556, "5.1.10", "Recipient address has null MX", BNC, C(BAD_DOMAIN)},
};

#endif
