"""What an outcome keeps of a mail server's reply: never the address it quotes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.notifications.domain.delivery import without_addresses

local = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéüçø用户0123456789._+-", min_size=1, max_size=20).filter(lambda s: s.strip("."))
domain = st.sampled_from(["example.com", "例子.中国", "müller.de", "xn--mller-kva.de", "mail.rossi.example"])


@given(local, domain, st.sampled_from(["550 5.1.1 <{a}>: Recipient address rejected", "553 {a} mailbox name not allowed", "451 4.3.0 {a}"]))
def test_no_address_survives_in_any_script_or_case(name: str, host: str, reply: str) -> None:
    address = f"{name}@{host}"
    for told in (address, address.upper()):
        kept = without_addresses(reply.format(a=told), address)
        assert "@" not in kept and told not in kept and reply.split(" ")[0] in kept


def test_the_rest_of_the_reply_is_kept() -> None:
    assert without_addresses("550 5.1.1 <Mario.Rossi@Rossi.example>: Recipient address rejected", "mario.rossi@rossi.example") == (
        "550 5.1.1 <[recipient]>: Recipient address rejected"
    )
