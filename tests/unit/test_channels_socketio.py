"""The widget's socket.io channel: with several Rasa servers its sockets are shared through the
lock store's Redis (delivery across real servers: tests/e2e/test_scale_out.py)."""

from __future__ import annotations

import pytest
from socketio import AsyncRedisManager

from channels.socketio import ClinicSocketIOInput, socket_manager


@pytest.mark.parametrize("url", [None, "", "  "])
def test_one_server_keeps_its_sockets_in_memory(url):
    assert socket_manager(url) is None
    channel = ClinicSocketIOInput.from_credentials({"redis_url": url,
                                                    "cors_allowed_origins": "http://a.example"})
    channel.blueprint(lambda message: None)
    assert type(channel.sio.manager).__name__ == "AsyncManager"  # python-socketio's in-memory


def test_several_servers_share_them_through_the_lock_stores_redis():
    manager = socket_manager("redis://:s3cret@10.0.0.5:6380/2?key_prefix=frontdesk")
    assert isinstance(manager, AsyncRedisManager)
    # the lock store's own option is not passed to Redis; its prefix names the channel
    assert manager.redis_url == "redis://:s3cret@10.0.0.5:6380/2"
    assert manager.channel == "frontdesk:socketio"
    assert socket_manager("redis://127.0.0.1").channel == "clinic:socketio"
    assert socket_manager("redis://127.0.0.1").redis_url == "redis://127.0.0.1/0"

    channel = ClinicSocketIOInput.from_credentials({"redis_url": "redis://127.0.0.1:6399/0"})
    channel.blueprint(lambda message: None)  # connects to nothing yet
    assert isinstance(channel.sio.manager, AsyncRedisManager)


@pytest.mark.parametrize("wrong", ["http://127.0.0.1:6379/0", "redis:///0",
                                   "redis://127.0.0.1:6379/x"])
def test_a_wrong_url_stops_the_server_with_the_lock_stores_message(wrong):
    with pytest.raises(ValueError, match="LOCK_STORE_URL"):
        socket_manager(wrong)
