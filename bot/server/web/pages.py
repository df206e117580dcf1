"""HTML shells for the console pages. Every value put into markup goes through ``html.escape``;
the data itself is fetched from the JSON APIs by ``console.js`` (and a page's own script, such
as ``review.js``, over the helpers in ``common.js``) and written with textContent.
"""

from __future__ import annotations

import html

from aiohttp import web

from bot.server.web.auth import CSRF_FIELD, SECURITY_HEADERS, Principal


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def layout(
    title: str,
    body: str,
    *,
    principal: Principal | None = None,
    page: str = "",
    status: int = 200,
    data: dict[str, str] | None = None,
) -> web.Response:
    attributes = "".join(f' data-{_e(k)}="{_e(v)}"' for k, v in (data or {}).items())
    header = ""
    csrf_meta = ""
    if principal is not None:
        csrf_meta = f'<meta name="csrf-token" content="{_e(principal.csrf_token or "")}">'
        admin_link = (
            '<li><a href="/console/admin">Users</a></li>' if principal.role == "admin" else ""
        )
        if principal.role in ("ops", "admin"):
            admin_link = '<li><a href="/ops/">Sentiment</a></li>' + admin_link
        header = (
            '<header class="top"><nav aria-label="Console"><ul>'
            '<li><a href="/console/">Queue</a></li>'
            '<li><a href="/console/review">To review</a></li>'
            f"{admin_link}</ul></nav>"
            f'<span class="who">{_e(principal.username)} ({_e(principal.role)})</span>'
            '<form method="post" action="/console/logout" class="logout">'
            f'<input type="hidden" name="{CSRF_FIELD}" value="{_e(principal.csrf_token or "")}">'
            '<button type="submit">Log out</button></form></header>'
        )
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · Frontdesk</title>{csrf_meta}"
        '<link rel="stylesheet" href="/static/console.css">'
        # Deferred scripts run in document order: the shared helpers before any page's own.
        '<script src="/static/common.js" defer></script>'
        '<script src="/static/console.js" defer></script>'
        f'</head><body data-page="{_e(page)}"{attributes}>{header}'
        f'<main id="main">{body}</main></body></html>'
    )
    return web.Response(
        status=status, text=document, content_type="text/html", headers=SECURITY_HEADERS
    )


def login_page(*, csrf: str, next_url: str, error: str = "", username: str = "") -> str:
    alert = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    return (
        '<div class="narrow"><h1>Frontdesk staff sign-in</h1>'
        f"{alert}"
        '<form method="post" action="/console/login" class="login">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{_e(csrf)}">'
        f'<input type="hidden" name="next" value="{_e(next_url)}">'
        '<label for="username">Username</label>'
        '<input id="username" name="username" autocomplete="username" required'
        f' value="{_e(username)}">'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password"'
        ' autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form></div>'
    )


QUEUE_BODY = (
    "<h1>Escalation queue</h1>"
    '<p id="queue-status" role="status" aria-live="polite"></p>'
    '<table class="queue" aria-describedby="queue-status"><thead><tr>'
    '<th scope="col">Waiting</th><th scope="col">Reason</th><th scope="col">Last message</th>'
    '<th scope="col">Sentiment</th><th scope="col">Assignee</th><th scope="col">Status</th>'
    '<th scope="col"><span class="visually-hidden">Actions</span></th>'
    '</tr></thead><tbody id="queue-rows"></tbody></table>'
)


def conversation_body(conversation_id: str) -> str:
    return (
        '<p><a href="/console/">← Queue</a></p>'
        "<h1>Conversation</h1>"
        '<p id="conversation-meta" role="status" aria-live="polite"></p>'
        '<div class="actions" id="conversation-actions">'
        '<button type="button" id="claim">Claim</button>'
        '<button type="button" id="resolve">Resolve</button>'
        '<button type="button" id="handback">Hand back to the bot</button></div>'
        '<div class="columns"><section aria-labelledby="transcript-title">'
        '<h2 id="transcript-title">Transcript</h2>'
        '<ol id="transcript" class="transcript" role="log" aria-live="polite"></ol>'
        '<form id="reply-form" class="reply">'
        '<label for="reply">Reply</label>'
        '<textarea id="reply" name="reply" rows="3" required></textarea>'
        '<button type="submit">Send reply</button></form></section>'
        '<aside aria-labelledby="notes-title"><h2 id="notes-title">Internal notes</h2>'
        '<ul id="notes" class="notes"></ul>'
        '<form id="note-form"><label for="note">Note</label>'
        '<textarea id="note" name="note" rows="2" required></textarea>'
        '<button type="submit">Add note</button></form></aside></div>'
        f'<p class="muted">Conversation id <code>{_e(conversation_id)}</code></p>'
    )


ADMIN_BODY = (
    "<h1>Users</h1>"
    '<p id="admin-status" role="status" aria-live="polite"></p>'
    '<table class="users"><thead><tr><th scope="col">Username</th><th scope="col">Role</th>'
    '<th scope="col">Active</th><th scope="col"><span class="visually-hidden">Actions</span></th>'
    '</tr></thead><tbody id="user-rows"></tbody></table>'
    '<h2>Add a user</h2><form id="add-user" class="add-user">'
    '<label for="new-username">New username</label><input id="new-username" required>'
    '<label for="new-password">New password</label>'
    '<input id="new-password" type="password" autocomplete="new-password" required minlength="8">'
    '<label for="new-role">Role</label><select id="new-role">'
    '<option value="agent">agent</option><option value="ops">ops</option>'
    '<option value="admin">admin</option></select>'
    '<button type="submit">Add user</button></form>'
)
