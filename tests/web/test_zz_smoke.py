from tests.web.conftest import *  # noqa
from tests.web.conftest import client  # noqa

async def test_smoke(client):
    app = client.app
    u = await make_user(app, "ann", "agent")
    csrf = await login(client, "ann")
    r = await client.get("/api/escalations"); print(r.status, await r.text())
    tok = await widget_token(client)
    ws = await client.ws_connect(f"/widget/ws?token={tok}")
    print(await drain(ws))
    await ws.send_json({"type":"message","text":"I want to talk to a human","client_id":"c1"})
    print(await receive_until(ws, lambda e: e.get("role")=="bot"))
    r = await client.get("/api/escalations"); q = await r.json(); print(q)
    cid = q["escalations"][0]["conversation_id"]
    r = await client.post(f"/api/conversations/{cid}/reply", json={"text":"hi <b>x</b>"}, headers={"X-CSRF-Token": csrf}); print(r.status, await r.text())
    print(await receive_until(ws, lambda e: e.get("role")=="agent"))
    r = await client.post(f"/api/conversations/{cid}/resolve", headers={"X-CSRF-Token": csrf}); print(r.status, await r.text())
    print(await receive_until(ws, lambda e: e.get("type")=="status" and e["rating_requested"]))
    await ws.send_json({"type":"rating","score":5})
    print(await receive_until(ws, lambda e: e.get("type")=="rated"))
    r = await client.get(f"/api/conversations/{cid}"); print(await r.text())
    await ws.close()
