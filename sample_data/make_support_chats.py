"""Write ``support_chats.jsonl``: multi-turn bike-shop support chats with defects hidden in earlier turns.

Run ``python sample_data/make_support_chats.py`` to regenerate; the output is deterministic. Every clean chat
has a system prompt and 2–4 user/assistant rounds; some call a tool (``get_order_status``) and answer from its
result, one user turn carries a photo (an ``image_url`` part). Each planted defect sits in a turn *before* the
last user/assistant pair, where a cleaner that reads only the last turns never looks; ``sample_data/README.md``
lists what the rules must find. Names, e-mail addresses and phone numbers are fictitious.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).with_name("support_chats.jsonl")
SYSTEM = "You are the support assistant of Spoke & Chain, a bicycle shop. Be friendly and precise."
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_status",
            "description": "Status of a customer's order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
        },
    }
]

# (question, answer) pairs, every answer 50+ characters and ending in punctuation
ROUNDS = [
    (
        "How often should I oil my chain?",
        "Oil the chain every 200 to 300 kilometres, or after any ride in the rain, and wipe off the excess.",
    ),
    (
        "What tyre pressure do you recommend for a city bike?",
        "Most city tyres run well between 3.5 and 5 bar; the exact range is printed on the tyre's sidewall.",
    ),
    (
        "Do you service electric bikes?",
        "Yes, we service electric bikes, including motor diagnostics and battery health checks, by appointment.",
    ),
    (
        "How long does a full service take?",
        "A full service usually takes two working days, and we call you as soon as the bike is ready to collect.",
    ),
    (
        "Can I rent a bike for the weekend?",
        "Yes, weekend rentals run from Friday at 4 pm to Monday at 10 am and include a helmet and a lock.",
    ),
    (
        "Which lock should I buy?",
        "For city parking we recommend a hardened steel D-lock plus a cable for the front wheel and the saddle.",
    ),
    (
        "My brakes squeak, is that dangerous?",
        "Squeaking often means dirty pads or rims; it is worth a check, since worn pads also brake less well.",
    ),
    (
        "Do you sell children's bikes?",
        "We sell children's bikes from 12 to 24 inch wheels, and you can trade them in when your child outgrows them.",
    ),
    (
        "How do I fix a flat tyre?",
        "Remove the wheel, take out the tube, find the hole, patch or replace the tube, then reinflate it carefully.",
    ),
    (
        "What are your opening hours?",
        "We are open Tuesday to Saturday from 9 am to 6 pm, and on Sundays from 10 am to 2 pm in summer.",
    ),
    (
        "Is a carbon frame worth it?",
        "Carbon frames are lighter and absorb vibration well, but aluminium is cheaper and more robust for daily use.",
    ),
    (
        "Can you fit mudguards to my road bike?",
        "Yes, if the frame has eyelets we fit full mudguards; otherwise clip-on guards are a good alternative.",
    ),
    (
        "What size frame do I need?",
        "Frame size depends on your inseam; come by and we will measure you and suggest a size in a few minutes.",
    ),
    (
        "Do you offer financing?",
        "We offer interest-free financing over 12 months on bikes above 500 euros, subject to a quick credit check.",
    ),
    (
        "How should I store my bike in winter?",
        "Store it dry and indoors if you can, clean and oil the chain first, and keep the tyres lightly inflated.",
    ),
    (
        "Can I bring my own parts for a repair?",
        "Yes, you can bring your own parts; we charge only the labour and check that the parts fit your bike.",
    ),
]
# a distinct last round for every chat, so the last turns (what near_duplicate compares) are all different
CLOSERS = [
    (
        "Do you deliver bikes to my home?",
        "Yes, within the city we deliver assembled bikes for a flat fee of 15 euros on Thursdays.",
    ),
    (
        "Can I test ride before buying?",
        "Of course; leave an ID at the counter and take any bike on our demo rack around the block.",
    ),
    (
        "Is there a warranty on new frames?",
        "New frames carry a five-year warranty against manufacturing defects from the date of purchase.",
    ),
    (
        "What helmets do you recommend for commuting?",
        "Look for a MIPS-certified helmet with integrated lights and a magnetic buckle for everyday comfort.",
    ),
    (
        "How do I adjust my saddle height?",
        "With the pedal at its lowest point your knee should be almost straight, bent about twenty-five degrees.",
    ),
    (
        "Do you buy used bikes?",
        "We buy used bikes in good condition after a short inspection and pay by bank transfer within a week.",
    ),
    (
        "Which lights are legal at night?",
        "You need a white light in front, a red one at the back, and reflectors on the pedals and the wheels.",
    ),
    (
        "Are tubeless tyres worth it?",
        "Tubeless tyres seal small punctures themselves and run at lower pressure, which suits gravel riding.",
    ),
    (
        "Can you true a buckled wheel?",
        "Yes, truing a wheel takes about thirty minutes; badly bent rims may need replacing instead.",
    ),
    (
        "How much does a new chain cost?",
        "A quality chain costs between 20 and 45 euros, and fitting it takes us less than fifteen minutes.",
    ),
    (
        "Do you have a loyalty programme?",
        "Every purchase earns points, and 500 points give you a free basic service at any of our two shops.",
    ),
    (
        "What is the best bike for hills?",
        "A light frame with a wide gear range, such as a 1x12 drivetrain, makes steep climbs far easier.",
    ),
    (
        "Can I pay with a card?",
        "We accept all major debit and credit cards, contactless payments and bank transfers for larger orders.",
    ),
    (
        "How do I clean a muddy bike?",
        "Rinse with low-pressure water, scrub with bike soap, dry the chain carefully and then oil it again.",
    ),
    (
        "Do you repair hydraulic brakes?",
        "Yes, we bleed and service hydraulic brakes from all major brands, usually on the same day.",
    ),
    (
        "Where can I park my bike safely?",
        "The covered racks by the station are monitored by cameras, and the city offers secure lockers too.",
    ),
    (
        "Is an e-bike battery safe to charge indoors?",
        "Yes, charge it on a hard surface away from heat with the original charger, and unplug it when full.",
    ),
    (
        "Can kids' bikes have stabilisers?",
        "Stabilisers fit most bikes up to 16 inch wheels, though balance bikes often teach riding faster.",
    ),
    (
        "What should I carry on a long ride?",
        "Bring a spare tube, tyre levers, a mini pump, a multitool, water, a snack and a charged phone.",
    ),
    (
        "How do I know my brake pads are worn?",
        "Most pads have wear grooves; once the grooves disappear or braking feels weak, replace them.",
    ),
    (
        "Do you sell second-hand parts?",
        "We keep a shelf of tested second-hand parts, mostly wheels, saddles and mechanical groupsets.",
    ),
    (
        "Can I change my gear ratio?",
        "Swapping the cassette or chainring changes the ratio; we can suggest a setup for your riding style.",
    ),
    (
        "Do you organise group rides?",
        "Every Sunday at 8 am a relaxed group ride leaves the shop, about 50 kilometres at a social pace.",
    ),
    (
        "How tight should my headset be?",
        "It should turn freely without play; rock the bike with the front brake on to feel for any knocking.",
    ),
    (
        "What is a bike fit?",
        "A bike fit adjusts saddle, handlebar and cleats to your body to prevent pain and improve power.",
    ),
    (
        "Do you ship spare parts abroad?",
        "We ship parts across the European Union, with tracked delivery in three to five working days.",
    ),
    (
        "Can I convert my bike to electric?",
        "Conversion kits with a hub motor fit many frames, but check the brakes can handle the extra speed.",
    ),
    (
        "How long do tyres last?",
        "City tyres last around 3,000 to 5,000 kilometres; replace them sooner if you see cracks or threads.",
    ),
    (
        "Do you have a workshop I can use?",
        "Our self-service corner has a stand, a pump and basic tools, free for customers during opening hours.",
    ),
    (
        "Why does my gear shifting skip?",
        "Skipping usually means a stretched chain, a worn cassette or a cable that needs fresh tension.",
    ),
    (
        "Can you fit a child seat?",
        "Yes, we fit rear child seats for children up to 22 kilograms, and the fitting takes about an hour.",
    ),
    (
        "What pedals should a beginner use?",
        "Flat pedals with good grip are best to start; clipless pedals can come later once you feel confident.",
    ),
    (
        "Do you recycle old tyres?",
        "Yes, drop old tyres and tubes in the blue bin by the door, and we send them to a rubber recycler.",
    ),
    (
        "How often should I replace my cables?",
        "Replace gear and brake cables about once a year, or sooner if shifting or braking feels gritty.",
    ),
    (
        "Is a suspension fork worth it in the city?",
        "For smooth city streets a rigid fork is lighter and cheaper; suspension helps on rough cobbles.",
    ),
    (
        "Do you offer gift cards?",
        "Gift cards are available in any amount from 20 euros and can be used in the shop or online.",
    ),
    (
        "Can I reserve a service slot online?",
        "Yes, book on our website and pick any free slot; you get a reminder by e-mail the day before.",
    ),
    (
        "What do I do if my bike is stolen?",
        "Report it to the police with the frame number, and tell us so we can watch for it in trade-ins.",
    ),
    (
        "How do I stop my chain from rusting?",
        "Keep the bike dry, wipe the chain after wet rides and use a wax-based lubricant through winter.",
    ),
    (
        "Can you install a kickstand?",
        "Most frames take a rear or centre kickstand, which we fit in a few minutes while you wait.",
    ),
    (
        "Do you sell cargo bikes?",
        "We sell two-wheeled and three-wheeled cargo bikes, electric or not, and you can book a test ride.",
    ),
    (
        "What size wheels are best for touring?",
        "Most touring bikes use 700c or 26 inch wheels; 26 inch parts are easier to find in remote places.",
    ),
    (
        "How should I carry a laptop on my bike?",
        "A waterproof pannier with a padded sleeve keeps a laptop safe and your back free of sweat.",
    ),
    (
        "Can you remove rust from my frame?",
        "Surface rust can be sanded and touched up with paint; deep rust on a steel frame needs a closer look.",
    ),
    (
        "Are folding bikes sturdy?",
        "Good folding bikes are sturdy for daily commuting, though their small wheels feel livelier on bumps.",
    ),
]


def chat(rounds: list[tuple[str, str]], *, system: bool = True) -> dict:
    messages = [{"role": "system", "content": SYSTEM}] if system else []
    for question, answer in rounds:
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


_used: list[int] = []


def pick(i: int, n: int) -> list[tuple[str, str]]:
    """``n`` rounds: ``n - 1`` from the shared pool, then a last round no other chat has."""
    _used.append(i)
    return [ROUNDS[(i * 3 + k) % len(ROUNDS)] for k in range(n - 1)] + [CLOSERS[len(_used) - 1]]


def tool_chat(i: int, order: str, status: str, *, extra_result: str = "") -> dict:
    call_id = f"call_{i:03d}"
    result = {"order_id": order, "status": status}
    if extra_result:
        result["note"] = extra_result
    example = chat(pick(i, 1))
    example["messages"] += [
        {"role": "user", "content": f"Where is my order {order}?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_order_status", "arguments": json.dumps({"order_id": order})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": json.dumps(result)},
        {
            "role": "assistant",
            "content": f"Your order {order} is {status.replace('_', ' ')}; we will e-mail you when anything changes.",
        },
    ]
    example["tools"] = TOOLS
    return example


def build() -> list[dict]:
    examples: list[dict] = []
    # 20 clean multi-turn chats (2-4 rounds), 6 clean tool-call chats, 1 clean chat with a photo
    for i in range(20):
        examples.append(chat(pick(i, 2 + i % 3)))
    for i in range(6):
        examples.append(tool_chat(i, f"SC-{1040 + i}", ("in_transit", "ready_for_pickup", "being_assembled")[i % 3]))
    photo = chat(pick(30, 1))
    photo["messages"][1]["content"] = [
        {"type": "text", "text": "Which part is this, and do you stock it?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/photos/derailleur.jpg", "detail": "low"}},
    ]
    photo["messages"][2]["content"] = "That is a rear derailleur; we stock the common 10, 11 and 12-speed models."
    examples.append(photo)

    def planted(index: int, turn: int, **changes) -> dict:
        example = chat(pick(40 + index, 3))
        example["messages"][turn].update(changes)
        return example

    # -- defects in earlier turns (turn = index in messages; 0 is the system prompt) -----------------------------
    examples += [
        # pii: an e-mail in the first user turn, a phone number in the second, an e-mail inside a tool result
        planted(
            0,
            1,
            content="Hi, I'm Dana Whitfield, my e-mail is dana.whitfield@example.com. How often should I oil my chain?",
        ),
        planted(1, 3, content="Please call me back on +1 (555) 201-4400, what tyre pressure do you recommend?"),
        tool_chat(10, "SC-2001", "in_transit", extra_result="customer contact: lee.moreno@example.org"),
        # placeholder: template leaks in earlier assistant turns
        planted(2, 2, content="Hello {{name}}, oil the chain every 200 to 300 kilometres and wipe off the excess."),
        planted(3, 4, content="You can read our full guide here: [INSERT LINK] before your next ride, it helps."),
        # blocklist: an insult in an earlier user turn and in an earlier assistant turn
        planted(4, 3, content="This stupid bike keeps losing air, what tyre pressure should I use?"),
        planted(5, 2, content="Only an idiot would skip oiling; do it every 200 to 300 kilometres, please."),
        # uppercase: an earlier user turn in capitals
        planted(6, 1, content="WHY DOES MY CHAIN KEEP FALLING OFF WHEN I CHANGE GEAR ON HILLS?"),
        # truncated: two earlier trained answers that stop mid-sentence
        planted(7, 2, content="Oil the chain every 200 to 300 kilometres, or after any ride in the rain, and"),
        planted(8, 4, content="A full service usually takes two working days, and we call you as soon as the"),
        # too_short: an earlier trained answer of a few characters
        planted(9, 2, content="Sure."),
        # empty: an earlier trained answer with no text and no tool call
        planted(10, 2, content=""),
    ]
    # not defects: the same faults in turns that are not trained (weight 0) are context, not training targets
    examples += [
        planted(11, 2, content="Ok.", weight=0),
        planted(12, 4, content="A full service usually takes two working days, and", weight=0),
    ]
    # exact_duplicate: a verbatim copy of the first clean chat; duplicate_prompt: the same context, another answer
    examples.append(json.loads(json.dumps(examples[0])))
    other = json.loads(json.dumps(examples[1]))
    other["messages"][-1]["content"] = (
        "We are happy to help with that; please bring the bike in and we will take a look together."
    )
    examples.append(other)
    return examples


def main() -> None:
    lines = [json.dumps(example, ensure_ascii=False) for example in build()]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} chats to {OUT}")


if __name__ == "__main__":
    main()
