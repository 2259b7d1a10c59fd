#!/usr/bin/env python3
"""Synthetic, labelled interview excerpts for the extraction evaluation and the LoRA corpus.

Each excerpt is a DAIC-WOZ-style transcript (`<id>_TRANSCRIPT.csv`, tab-separated, timed) with
its answer key (`<id>_labels.json`, the extraction schema's `ModelOutput`: emotions and topics
with verbatim participant quotes, key phrases, a summary, concerns, suggested actions) and, for
about half of them, the voice emotion of each participant turn (`<id>_voice.json`, the
`VoiceEmotions` layout the pipeline fuses into the prompt).

Planted in every excerpt: one to three facts (a topic clause with a key phrase, usually joined to
an emotion clause), small talk that carries no label, and interviewer lines that name feelings
("some people feel hopeless ...") which must never be cited as the participant's.

Two template families that share no clause, question or speaker label:
  family A  -> train (for the adapter) and dev: 18-29 ways to say each emotion and 9-10 topic
               clauses per category, so the adapter learns feelings and facts, not sentences,
  family B  -> heldout (different templates, vocabulary, connectors and speaker labels; training
               never sees it). Family A may not use family B's feeling words (checked on every
               run), so the held-out scores measure generalisation, not recall of trained words.

    python3 scripts/make-extraction-sets.py            # writes examples/data/extraction/{dev,heldout}
    python3 scripts/make-extraction-sets.py --train runs/extraction/train   # + the training set

Fixed seeds: the same command writes the same files.
"""

import argparse
import json
import random
from pathlib import Path

# Emotion clauses. The whole clause is the evidence quote. Family A has a few dozen ways to say
# each emotion (so the adapter learns the feeling, not the sentence); none shares a feeling
# word with family B (checked in main()).
EMOTIONS_A = {
    "sadness": ["i feel sad most days", "i've been really down lately", "i cry a lot more than i used to",
                "i just feel miserable", "everything makes me sad right now", "i feel so blue these days",
                "i've been heartbroken about it", "i get sad thinking about it", "i feel down in the dumps",
                "my heart feels heavy", "i feel unhappy about it", "it makes me want to cry",
                "i feel really sad about it", "i've been feeling down", "i'm heartbroken",
                "i feel so sad inside", "i've been so unhappy", "i'm sad all the time", "i feel crushed",
                "it breaks my heart", "i've been feeling really blue", "i feel down most mornings",
                "it hurts so much to think about", "i'm grieving and it hurts", "i feel miserable every day",
                "i'm just really unhappy", "i feel depressed most days", "i've been in a dark place",
                "i cry myself to sleep"],
    "hopelessness": ["i don't see the point anymore", "nothing is ever going to get better",
                     "i feel hopeless about it", "i've given up on things changing",
                     "i can't imagine it ever improving", "it feels like there's no way out",
                     "i feel like giving up", "nothing will ever work out for me", "i feel defeated",
                     "there's no point in trying anymore", "nothing i do matters",
                     "it's never going to get any better", "i see no way forward",
                     "there's no light at the end of the tunnel", "i feel like a lost cause",
                     "why bother anymore", "i've stopped believing it can improve",
                     "i don't think i'll ever get out of this", "it all feels pointless",
                     "i feel trapped with no way out", "i'm giving up on myself",
                     "i don't think things will ever be okay", "it's hopeless", "nothing is worth it anymore"],
    "anxiety": ["i'm anxious all the time", "i get so nervous about it",
                "i keep worrying about it every night", "my chest gets tight with worry",
                "i panic whenever i think about it", "i'm constantly on edge", "i feel uneasy all the time",
                "my mind races with worry", "i'm a nervous wreck", "i worry constantly", "i feel panicky",
                "i get anxious just thinking about it", "my heart pounds when i think about it",
                "i get panic attacks", "i'm always tense and worried", "i can't stop worrying",
                "i'm nervous every single day", "i feel on edge", "i'm terrified of it",
                "my hands shake from nerves", "i'm a bundle of nerves", "i overthink everything and worry",
                "i feel anxious around people", "i'm afraid something bad will happen"],
    "frustration": ["it's so frustrating", "i'm fed up with it", "it drives me crazy",
                    "i get really frustrated", "nothing i try seems to work and it bugs me",
                    "it's really aggravating", "it gets on my nerves", "i feel stuck and frustrated",
                    "i'm so fed up", "it really bugs me", "it's driving me up the wall",
                    "i keep hitting a wall and it's maddening", "i feel exasperated",
                    "i can't stand how slow it is", "i feel so frustrated with it",
                    "nothing goes my way and i'm fed up", "i've had it up to here",
                    "i'm frustrated all the time", "it's a constant hassle and i'm fed up",
                    "i keep trying and getting nowhere and it's frustrating"],
    "anger": ["i'm angry about it", "it makes me furious", "i get mad and yell", "i lose my temper over it",
              "honestly it pisses me off", "it makes me see red", "i'm really bitter about it",
              "i get so mad i shake", "i'm so angry", "i get furious", "it makes me so mad",
              "i'm angry at them", "i blow up at people", "i feel so much anger",
              "i get heated and start shouting", "i'm mad at the world", "i punched a wall",
              "i'm angry every day", "i snap at everyone", "i'm furious with them", "i get into fights over it"],
    "guilt": ["i feel guilty about it", "i blame myself for it", "i feel like it's all my fault",
              "i feel bad that i let everyone down", "i keep thinking i should have done better",
              "i can't forgive myself", "i feel terrible about what i did", "it's my fault",
              "i feel so guilty", "i let my family down", "i should have been there",
              "i can't stop blaming myself", "i feel guilty all the time", "i feel like i failed them",
              "i hate myself for it", "i feel awful about how i treated them", "i feel bad about what i said",
              "i keep apologizing because i feel guilty", "i let my kids down"],
    "loneliness": ["i feel lonely most of the time", "i don't really have anyone to talk to",
                   "i feel so alone", "i've been isolating myself", "nobody really calls me anymore",
                   "i have no friends anymore", "i'm lonely every weekend", "i feel left out of everything",
                   "i'm lonely", "i feel alone all the time", "i have nobody", "i don't have anyone",
                   "nobody visits me", "i feel disconnected from people", "i keep to myself and feel lonely",
                   "i don't see my friends anymore", "i eat dinner alone every night",
                   "i feel invisible to everyone", "no one checks on me", "i stopped hanging out with people",
                   "i feel so lonely at night"],
    "fatigue": ["i'm exhausted all the time", "i feel tired every single day", "i have no energy at all",
                "i'm worn out by noon", "i can barely get out of bed", "i feel exhausted even after sleeping",
                "i have zero energy", "i'm burned out", "i'm tired all the time", "i'm so exhausted",
                "i feel worn down", "i have no energy to do anything", "i'm always sleepy", "i'm fatigued",
                "i feel tired even in the morning", "i can't keep my eyes open", "i'm physically exhausted",
                "i'm too tired to do anything", "i feel heavy and tired", "i'm beat every night",
                "i'm exhausted by the afternoon"],
    "calm": ["i feel pretty calm about it now", "i'm at peace with it", "i feel relaxed about it",
             "it doesn't stress me out anymore", "i'm more relaxed these days", "i feel steady about it",
             "i'm handling it pretty calmly", "i feel calm", "i'm feeling pretty relaxed",
             "i'm calmer than i used to be", "i feel at ease", "it doesn't bother me much now",
             "i feel peaceful", "i'm pretty chill about it", "i'm not worried about it anymore",
             "i feel content and relaxed", "i'm taking it in stride", "i feel calm when i think about it"],
    "joy": ["it makes me really happy", "i'm excited about it", "that part of my life is great", "i love it",
            "it brings me a lot of joy", "i'm really glad about it", "it makes me smile",
            "i feel happy when i'm there", "i'm so happy about it", "i really enjoy it",
            "it makes me feel good", "i'm really happy", "it's exciting", "i'm proud and happy",
            "it makes my day", "i'm over the moon", "i feel great about it", "it's a lot of fun",
            "it cheers me up", "i love spending time there"],
}

# Feeling words for family A's framed clauses ("i've been feeling {word} lately"): a lexicon of
# a few dozen words per label, so the adapter learns the label of a feeling word rather than a
# fixed sentence. A framed clause is used for about half of family A's emotions. No word here
# shares a stem with family B's feeling words (checked in main()).
FEELING_WORDS_A = {
    "sadness": ["sad", "down", "blue", "miserable", "unhappy", "heartbroken", "depressed", "sorrowful",
                "melancholy", "despondent", "dejected", "downcast", "glum", "mournful", "forlorn",
                "crestfallen", "disheartened", "weepy", "heavy-hearted", "low-spirited", "grief-stricken",
                "devastated", "crushed", "wretched", "morose", "somber", "broken-hearted", "bummed out",
                "sorry for myself", "grieving"],
    "hopelessness": ["hopeless", "defeated", "doomed", "resigned", "discouraged", "helpless", "powerless",
                     "in despair", "despairing", "beaten", "like a lost cause", "like nothing will change",
                     "like there's no future", "like it's pointless", "like giving up", "beyond help",
                     "like there's nothing to look forward to", "like it's all futile", "stuck for good",
                     "like i'll never get better"],
    "anxiety": ["anxious", "nervous", "worried", "panicky", "uneasy", "tense", "on edge", "restless",
                "fearful", "frightened", "afraid", "apprehensive", "edgy", "antsy", "jumpy", "keyed up",
                "wound up", "petrified", "terrified", "spooked", "frantic", "alarmed", "shaky",
                "panicked", "worked up", "nervy", "fretful"],
    "frustration": ["frustrated", "fed up", "exasperated", "aggravated", "bugged", "thwarted", "impatient",
                    "at my wits' end", "cranky", "grumpy", "peeved", "ticked off", "put out", "dissatisfied",
                    "stymied", "hassled", "stuck and fed up", "worn thin", "disgruntled", "vexed",
                    "out of patience", "cheesed off"],
    "anger": ["angry", "furious", "mad", "irate", "incensed", "fuming", "seething", "outraged", "infuriated",
              "hostile", "bitter", "heated", "cross", "explosive", "hot-tempered", "up in arms", "steaming",
              "vengeful", "ready to explode", "hateful", "ready to hit something",
              "wrathful", "hopping mad"],
    "guilt": ["guilty", "to blame", "remorseful", "at fault", "contrite", "apologetic", "culpable",
              "like a bad person", "like it's my fault", "like i let everyone down", "sorry for what i did",
              "like i wronged them", "full of self-blame", "guilt-ridden", "like i owe them an apology",
              "like i hurt everyone", "penitent", "like i failed my family"],
    "loneliness": ["lonely", "alone", "lonesome", "abandoned", "forgotten", "friendless", "left out",
                   "solitary", "disconnected", "unwanted", "excluded", "shut out", "on my own", "invisible",
                   "neglected", "withdrawn", "unloved", "all by myself", "like nobody cares",
                   "like i have no one", "like an outsider", "separated from everyone"],
    "fatigue": ["tired", "exhausted", "worn out", "burned out", "fatigued", "sleepy", "weary", "spent",
                "depleted", "listless", "lethargic", "beat", "run down", "zonked", "bone-tired", "drowsy",
                "groggy", "dead on my feet", "out of steam", "washed out", "frazzled", "knackered",
                "low on energy", "worn down", "spent by noon"],
    "calm": ["calm", "relaxed", "peaceful", "at ease", "content", "steady", "tranquil", "composed",
             "grounded", "centered", "mellow", "easygoing", "untroubled", "unbothered", "comfortable",
             "balanced", "level-headed", "at peace", "quiet inside", "collected", "laid-back"],
    "joy": ["happy", "glad", "joyful", "excited", "cheerful", "elated", "overjoyed", "ecstatic", "pleased",
            "grateful", "upbeat", "giddy", "jubilant", "on cloud nine", "over the moon", "blissful",
            "thankful", "proud", "lighthearted", "tickled pink", "chuffed", "full of joy", "glowing"],
}
# Frames that read well with any entry ("like nobody cares", "on edge"), then frames for
# one-word adjectives only.
FEEL_FRAMES_A = ["i feel {w}", "i've been feeling {w} lately", "honestly i feel {w}", "mostly i just feel {w}",
                 "i feel {w} most of the time", "i feel {w} these days", "i end up feeling {w}",
                 "i feel {w} every day", "i've felt {w} for weeks"]
ADJECTIVE_FRAMES_A = ["i'm so {w} about it", "i get {w} when i think about it", "it's left me {w}",
                      "i've been {w} for a while", "i'm {w} most days", "i'm just {w}"]


def framed_feeling(rng, emotion):
    """A family-A emotion clause built from the lexicon: a frame around a feeling word."""
    word = rng.choice(FEELING_WORDS_A[emotion])
    frames = FEEL_FRAMES_A if " " in word else FEEL_FRAMES_A + ADJECTIVE_FRAMES_A
    return rng.choice(frames).format(w=word)

EMOTIONS_B = {
    "sadness": ["i've been tearful a lot", "i feel low and gloomy", "i'm pretty upset about it",
                "it leaves me feeling empty and low"],
    "hopelessness": ["i doubt anything will change", "what's the use of trying", "the future looks bleak to me",
                     "i don't have much hope left"],
    "anxiety": ["i'm scared it will go wrong", "i can't stop stressing over it", "it makes me really jittery",
                "i lie awake dreading it"],
    "frustration": ["i'm sick of dealing with it", "it really annoys me", "i'm so irritated by it",
                    "i'm at the end of my rope with it"],
    "anger": ["it makes my blood boil", "i'm really resentful about it", "i was livid", "i feel rage about it"],
    "guilt": ["i'm ashamed of it", "it's on my conscience", "i regret how i handled it",
              "i feel responsible for the mess"],
    "loneliness": ["i'm isolated these days", "i spend most evenings by myself", "i miss having people around",
                   "i feel cut off from everyone"],
    "fatigue": ["i'm drained", "i'm completely wiped out", "i feel sluggish all day", "i'm running on empty"],
    "calm": ["i feel settled about it", "i'm okay with it and pretty serene", "i've made my peace with it"],
    "joy": ["i'm thrilled about it", "it's been wonderful", "it's the best thing that's happened to me",
            "i'm delighted with it"],
}

# Topic clauses; the bracketed words are the key phrase. (clause, short topic label)
TOPICS_A = {
    "work": [("i [might get laid off soon]", "possible layoff"), ("my [hours got cut in half]", "fewer hours"),
             ("i [can't keep up with my workload]", "workload"), ("my boss keeps [piling on deadlines]", "deadlines at work"),
             ("i might [lose my job at the warehouse]", "job security"),
             ("i've been [working double shifts]", "long work hours"),
             ("my coworkers [ignore me in meetings]", "coworkers"), ("i [got fired last week]", "job loss"),
             ("my [shifts keep changing]", "changing shifts"),
             ("my [contract ends next month]", "contract ending"),
             ("i [hate my new job]", "disliking the job"), ("i [work nights at the hospital]", "night work"),
             ("my [boss yelled at me in front of everyone]", "conflict with boss")],
    "finances": [("i [had to sell my car]", "selling the car"), ("my [paycheck doesn't last the month]", "paycheck too small"),
                 ("i [have medical bills piling up]", "medical bills"), ("i'm [behind on rent again]", "rent"), ("we have [a lot of credit card debt]", "debt"),
                 ("i [can't pay my bills]", "bills"), ("money is [tight since the layoff]", "money problems"),
                 ("i [lost money gambling]", "gambling losses"),
                 ("i [can't afford groceries]", "affording food"),
                 ("i [maxed out my credit cards]", "credit card debt"),
                 ("my [car got repossessed]", "car repossession"),
                 ("i [borrow money from friends every month]", "borrowing money"),
                 ("i [can't cover the mortgage]", "mortgage")],
    "relationships": [("my boyfriend [left me for someone else]", "breakup"), ("my wife and i [barely talk anymore]", "distant marriage"),
                      ("i [keep getting ghosted]", "dating rejection"), ("my girlfriend and i [broke up last month]", "breakup"),
                      ("my husband and i [fight every night]", "marriage conflict"),
                      ("i [haven't dated in years]", "dating"),
                      ("my best friend [stopped talking to me]", "friendship"),
                      ("my wife [wants a divorce]", "divorce"),
                      ("my boyfriend [never listens to me]", "partner not listening"),
                      ("my ex [keeps texting me]", "ex contacting"),
                      ("i [got dumped on my birthday]", "breakup"),
                      ("my girlfriend [moved out in june]", "girlfriend moving out"),
                      ("i [don't trust my husband anymore]", "trust in marriage")],
    "family": [("my sister [lost her baby]", "sister's loss"), ("my mom and i [had a huge fight]", "conflict with mother"),
               ("my grandpa [moved into a nursing home]", "grandfather in care"), ("my mom [is in the hospital]", "mother's illness"),
               ("my dad [passed away in march]", "father's death"),
               ("my brother [moved across the country]", "brother moving away"),
               ("my kids [don't visit anymore]", "children"), ("my son [got arrested]", "son's arrest"),
               ("my parents [are getting divorced]", "parents' divorce"),
               ("my daughter [stopped calling me]", "daughter"),
               ("my father [drinks too much]", "father's drinking"),
               ("my mother [has cancer]", "mother's cancer"), ("my uncle [died last year]", "uncle's death")],
    "health": [("i [have high cholesterol]", "high cholesterol"), ("my [knees hurt when i walk]", "knee pain"),
               ("i [tore a ligament at the gym]", "ligament injury"), ("my back [has been hurting for months]", "back pain"),
               ("i was [diagnosed with diabetes]", "diabetes diagnosis"),
               ("i [get migraines every week]", "migraines"), ("i [put on a lot of weight]", "weight gain"),
               ("i [have chronic pain in my neck]", "neck pain"), ("my [asthma got worse]", "asthma"),
               ("i [had surgery on my shoulder]", "shoulder surgery"), ("i [get dizzy spells]", "dizziness"),
               ("my [stomach hurts all the time]", "stomach pain"),
               ("i [broke my wrist in may]", "broken wrist")],
    "sleep": [("i'm [up before dawn every day]", "early waking"), ("i [wake too early and lie there]", "early waking"),
              ("i [stay in bed until noon]", "oversleeping"), ("i [barely sleep at all]", "insomnia"),
              ("i [can't stay asleep]", "waking at night"), ("i [wake up at four every morning]", "early waking"),
              ("i [can't fall asleep until three]", "trouble falling asleep"),
              ("i [sleep twelve hours a day]", "oversleeping"),
              ("i [have nightmares most nights]", "nightmares"),
              ("i [only sleep four hours a night]", "short sleep"),
              ("i [keep waking up in the night]", "waking at night"),
              ("i [sleep on the couch most nights]", "poor sleep"),
              ("i [lie in bed for hours before sleeping]", "trouble falling asleep"),
              ("i [sleep through my alarm]", "oversleeping"), ("i [wake up sweating at night]", "night sweats")],
    "mood": [("i [feel irritable all week]", "irritability"), ("i [stopped caring about things]", "apathy"), ("my mood [goes up and down all day]", "mood swings"),
             ("i [don't enjoy anything anymore]", "loss of interest"),
             ("i [feel numb most of the time]", "emotional numbness"),
             ("i [cry for no reason]", "crying spells"),
             ("i [lost interest in my hobbies]", "loss of interest in hobbies"),
             ("i [get irritable over small things]", "irritability"), ("i [feel empty inside]", "emptiness"),
             ("i [can't enjoy my music anymore]", "loss of interest"),
             ("my [mood is worse in the mornings]", "morning low mood")],
    "therapy": [("i [go to group therapy on tuesdays]", "group therapy"), ("my [therapist moved away]", "losing a therapist"), ("i [started seeing a counselor]", "counseling"),
                ("my doctor [put me on medication]", "medication"),
                ("i [stopped going to therapy]", "stopping therapy"),
                ("i [see a psychologist every week]", "weekly psychologist"),
                ("i [quit my antidepressants]", "stopping antidepressants"),
                ("i [tried cognitive behavioral therapy]", "cbt"),
                ("i [was in the hospital for my depression]", "hospitalization"),
                ("i [talk to a therapist online]", "online therapy"),
                ("my doctor [doubled my dose]", "dose increase")],
    "education": [("i [failed my final exams]", "failed exams"), ("i [switched majors twice]", "changing majors"), ("i [failed two classes this semester]", "failing classes"),
                  ("i [dropped out of college]", "dropping out"),
                  ("i'm [studying for my nursing exam]", "nursing exam"),
                  ("i [can't focus in class]", "trouble focusing in class"),
                  ("i [have to repeat the year]", "repeating a year"),
                  ("i [failed my driving test twice]", "failed test"),
                  ("i'm [taking night classes]", "night classes"),
                  ("i [never finished high school]", "unfinished school"),
                  ("my [grades dropped this year]", "falling grades")],
    "living_situation": [("i [live with my ex]", "living with an ex"), ("our [heat got shut off]", "no heating"), ("i'm [living in my car]", "homelessness"),
                         ("i [moved back in with my parents]", "living with parents"),
                         ("my roommate [is always loud at night]", "roommate"),
                         ("i'm [staying on a friend's couch]", "couch surfing"),
                         ("my [neighborhood isn't safe]", "unsafe neighborhood"),
                         ("i [live alone in a small room]", "living alone"),
                         ("we [had to move three times this year]", "frequent moves"),
                         ("my [landlord won't fix the heating]", "landlord"),
                         ("i [share a room with my brother]", "shared room")],
    "substance_use": [("i [smoke pot every evening]", "cannabis use"), ("i [drink before work]", "drinking before work"), ("i've been [drinking every night]", "drinking"), ("i [smoke a pack a day]", "smoking"),
                      ("i [started using pills to cope]", "pill use"),
                      ("i've been [drinking too much beer]", "heavy drinking"),
                      ("i [take painkillers every day]", "painkiller use"),
                      ("i've been [drinking wine to fall asleep]", "drinking to sleep"),
                      ("i [relapsed last month]", "relapse"),
                      ("i [drink alone on weekends]", "drinking alone"),
                      ("i [use sleeping pills every night]", "sleeping pills")],
}

TOPICS_B = {
    "work": [("the [restaurant cut my hours]", "reduced hours"), ("my [manager criticizes everything]", "critical manager")],
    "finances": [("i [owe the bank thousands]", "bank debt"), ("i [spent all my savings]", "savings gone")],
    "relationships": [("my [partner cheated on me]", "infidelity"), ("my [fiance called off the wedding]", "cancelled wedding")],
    "family": [("my [sister won't speak to me]", "estranged sister"), ("my [grandmother has dementia]", "grandmother's dementia")],
    "health": [("my [blood pressure is high]", "high blood pressure"), ("i [hurt my knee playing soccer]", "knee injury")],
    "sleep": [("i [toss and turn all night]", "restless sleep"), ("i [nap most afternoons]", "daytime napping")],
    "mood": [("i [feel flat inside]", "flat mood"), ("my [motivation is gone]", "low motivation")],
    "therapy": [("my [psychiatrist changed my prescription]", "prescription change"), ("i [joined a support group]", "support group")],
    "education": [("i [got rejected from grad school]", "grad school rejection"), ("my [thesis is overdue]", "overdue thesis")],
    "living_situation": [("our [apartment has mold]", "mold in the apartment"), ("i'm [getting evicted next week]", "eviction")],
    "substance_use": [("i [vape constantly]", "vaping"), ("i've been [smoking weed daily]", "cannabis use")],
}

QUESTIONS_A = {
    "work": ["how are things at work?", "tell me about your job."],
    "finances": ["how are you doing financially?", "is money a worry for you?"],
    "relationships": ["how is your love life?", "tell me about your relationships."],
    "family": ["how is your family?", "how close are you to your family?"],
    "health": ["how is your health?", "any physical problems lately?"],
    "sleep": ["how have you been sleeping?", "how easy is it for you to get a good night's sleep?"],
    "mood": ["how has your mood been?", "how have you been feeling in general?"],
    "therapy": ["have you ever gotten help for this?", "are you seeing anyone for support?"],
    "education": ["how is school going?", "what did you study?"],
    "living_situation": ["where are you living these days?", "how is your living situation?"],
    "substance_use": ["do you drink or use anything?", "how do you unwind at night?"],
}

QUESTIONS_B = {
    "work": ["what do you do for a living?"], "finances": ["are you managing with expenses?"],
    "relationships": ["are you seeing someone?"], "family": ["what about your relatives?"],
    "health": ["any medical issues?"], "sleep": ["what are your nights like?"],
    "mood": ["what's your mood like this week?"], "therapy": ["any treatment at the moment?"],
    "education": ["any classes or studies?"], "living_situation": ["what's home like?"],
    "substance_use": ["any alcohol or drugs?"],
}

SMALLTALK_A = [("where are you from originally?", "i'm from los angeles."),
               ("what do you do for fun?", "i like to watch movies."),
               ("do you travel a lot?", "not really, maybe once a year."),
               ("what's your favorite food?", "probably tacos."),
               ("how was the drive here?", "it was fine, not much traffic."),
               ("do you have any hobbies?", "i play guitar sometimes."),
               ("what did you do last weekend?", "nothing special, just stayed home."),
               ("what kind of work did you do before?", "i was a cook for a while."),
               ("do you like to read?", "sometimes, mostly magazines."),
               ("what's the weather been like?", "it's been sunny all week."),
               ("do you watch sports?", "i follow basketball a little."),
               ("what are you doing after this?", "probably going to the store."),
               ("how long have you lived here?", "about six years now.")]
SMALLTALK_B = [("did you find the office okay?", "yes, the directions were clear."),
               ("any pets at home?", "just a cat named milo."),
               ("what music do you listen to?", "mostly jazz and some rock.")]

# Interviewer lines that name feelings: context, never the participant's evidence.
BAIT_A = [("some people feel hopeless or lonely when things get hard. do you?", "no, not really."),
          ("do you ever feel angry or guilty about the past?", "not that i can think of."),
          ("a lot of people feel tired or frustrated at your age. is that you?", "i don't think so."),
          ("would you say you're a happy person?", "i'm not sure how to answer that."),
          ("when was the last time you felt really happy?", "i don't remember.")]
BAIT_B = [("lots of folks say they feel anxious or sad in winter. any of that?", "no, winter is fine.")]

CONNECTORS_A = [" and ", ". ", " and honestly ", ", so ", " but ", ". to be honest "]
CONNECTORS_B = ["; ", " and lately ", ", which means "]
OPENERS_A = [("hi, thanks for coming in today.", "hi."), ("how are you doing today?", "i'm okay.")]
OPENERS_B = [("good morning, take a seat.", "thanks.")]
FILLERS = ["um ", "uh ", "well um ", ""]

ADJECTIVE = {"sadness": "sad", "hopelessness": "hopeless", "anxiety": "anxious", "frustration": "frustrated",
             "anger": "angry", "guilt": "guilty", "loneliness": "lonely", "fatigue": "tired", "calm": "calm",
             "joy": "happy"}
NEGATIVE = {"sadness", "hopelessness", "anxiety", "frustration", "anger", "guilt", "loneliness", "fatigue"}
# The speech-emotion class a planted emotion would most plausibly sound like.
VOICE_OF = {"sadness": "sad", "hopelessness": "sad", "guilt": "sad", "loneliness": "sad", "fatigue": "sad",
            "anxiety": "fearful", "frustration": "angry", "anger": "angry", "calm": "calm", "joy": "happy"}
VOICE_CLASSES = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]

FAMILIES = {
    "A": dict(emotions=EMOTIONS_A, topics=TOPICS_A, questions=QUESTIONS_A, smalltalk=SMALLTALK_A, bait=BAIT_A,
              connectors=CONNECTORS_A, openers=OPENERS_A, speakers=("Ellie", "Participant")),
    "B": dict(emotions=EMOTIONS_B, topics=TOPICS_B, questions=QUESTIONS_B, smalltalk=SMALLTALK_B, bait=BAIT_B,
              connectors=CONNECTORS_B, openers=OPENERS_B, speakers=("Interviewer", "Patient")),
}


def key_phrase(clause):
    """The clause without brackets, and the bracketed key phrase."""
    start, end = clause.index("["), clause.index("]")
    return clause.replace("[", "").replace("]", ""), clause[start + 1:end]


def english_list(items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def excerpt(rng, fam):
    """One excerpt: utterances [(speaker, text)], the answer key, and each participant turn's emotion."""
    f = FAMILIES[fam]
    interviewer, participant = f["speakers"]
    n_facts = rng.choice([1, 2, 2, 3, 3])
    categories = rng.sample(sorted(f["topics"]), n_facts)
    emotions = rng.sample(sorted(f["emotions"]), n_facts)
    turns = []  # (speaker, text, planted emotion or None)
    facts = []  # (category, topic label, participant turn index, topic clause, key, emotion, emotion clause)
    if rng.random() < 0.6:
        q, a = rng.choice(f["openers"])
        turns += [(interviewer, q, None), (participant, a, None)]
    extras = [("smalltalk", x) for x in rng.sample(f["smalltalk"], rng.choice([0, 1, 1, 2]))]
    if rng.random() < 0.5:
        extras.append(("bait", rng.choice(f["bait"])))
    plan = [("fact", i) for i in range(n_facts)] + extras
    rng.shuffle(plan)
    for kind, item in plan:
        if kind != "fact":
            turns += [(interviewer, item[0], None), (participant, item[1], None)]
            continue
        category, emotion = categories[item], emotions[item]
        clause, label = rng.choice(f["topics"][category])
        topic_text, key = key_phrase(clause)
        feels = rng.random() < 0.85
        emotion_text = rng.choice(f["emotions"][emotion]) if feels else None
        # Family A says half of its feelings through the lexicon (family B draws nothing more
        # from the generator here, so the held-out set stays byte-identical).
        if feels and fam == "A" and rng.random() < 0.5:
            emotion_text = framed_feeling(rng, emotion)
        filler = rng.choice(FILLERS)
        if feels:
            connector = rng.choice(f["connectors"])
            if rng.random() < 0.3:
                answer = emotion_text + ". " + topic_text + "."
            else:
                answer = topic_text + connector + emotion_text + "."
        else:
            answer = topic_text + "."
        turns.append((interviewer, rng.choice(f["questions"][category]), None))
        turns.append((participant, filler + answer, emotion if feels else None))
        facts.append((category, label, len(turns) - 1, topic_text, key, emotion if feels else None, emotion_text))
    labels = {
        "emotions": [
            {"label": e, "intensity": round(rng.uniform(0.55, 0.9), 2),
             "evidence": [{"utterance_index": i, "quote": et}]}
            for (_, _, i, _, _, e, et) in facts if e
        ],
        "topics": [{"category": c, "label": lab, "evidence": [{"utterance_index": i, "quote": tt}]}
                   for (c, lab, i, tt, _, _, _) in facts],
        "key_phrases": [{"utterance_index": i, "text": k} for (_, _, i, _, k, _, _) in facts],
    }
    labels["emotions"].sort(key=lambda e: e["evidence"][0]["utterance_index"])
    labels["topics"].sort(key=lambda t: t["evidence"][0]["utterance_index"])
    labels["key_phrases"].sort(key=lambda k: k["utterance_index"])
    ordered = sorted(facts, key=lambda x: x[2])
    topics_said = english_list([lab for (_, lab, *_rest) in ordered])
    feelings = [ADJECTIVE[e] for (*_x, e, _et) in ordered if e]
    summary = f"The participant talks about {topics_said}"
    summary += f" and says they feel {english_list(feelings)}." if feelings else "."
    labels["summary"] = summary[0].upper() + summary[1:]
    labels["concerns"] = [f"Feeling {ADJECTIVE[e]} in connection with {lab}."
                          for (_, lab, _, _, _, e, _) in ordered if e in NEGATIVE][:3]
    labels["suggested_actions"] = [f"Follow up on {ordered[0][1]} at the next session."]
    return turns, labels


def write(directory, name, turns, labels, with_voice, rng):
    directory.mkdir(parents=True, exist_ok=True)
    rows, segments, t = ["start_time\tstop_time\tspeaker\tvalue"], [], 0.5
    for speaker, text, emotion in turns:
        dur = round(0.8 + 0.32 * len(text.split()), 2)
        rows.append(f"{t:.2f}\t{t + dur:.2f}\t{speaker}\t{text}")
        if speaker in ("Participant", "Patient"):
            top = VOICE_OF.get(emotion, "neutral") if rng.random() < 0.8 else rng.choice(VOICE_CLASSES)
            p = round(rng.uniform(0.45, 0.8), 2)
            second = "neutral" if top != "neutral" else "calm"
            scores = {c: 0.0 for c in VOICE_CLASSES}
            scores[top], scores[second] = p, round(1.0 - p - 0.05, 2)
            rest = [c for c in VOICE_CLASSES if c not in (top, second)]
            for c in rest:
                scores[c] = round(0.05 / len(rest), 4)
            segments.append({"start_s": round(t, 2), "end_s": round(t + dur, 2), "scores": scores})
        t = round(t + dur + 0.6, 2)
    (directory / f"{name}_TRANSCRIPT.csv").write_text("\n".join(rows) + "\n")
    (directory / f"{name}_labels.json").write_text(json.dumps(labels, indent=1) + "\n")
    if with_voice:
        (directory / f"{name}_voice.json").write_text(json.dumps({"segments": segments}) + "\n")


def make_set(directory, fam, n, seed):
    # A set is written whole: files of an earlier run (a voice file this run does not write)
    # would otherwise pair with the new transcripts.
    for stale in directory.glob("*_*.*") if directory.exists() else []:
        if stale.name.endswith(("_TRANSCRIPT.csv", "_labels.json", "_voice.json")):
            stale.unlink()
    rng = random.Random(seed)
    for i in range(n):
        turns, labels = excerpt(rng, fam)
        write(directory, f"{fam.lower()}{seed}_{i:03d}", turns, labels, rng.random() < 0.5, rng)


# Feeling words of family B: family A must not use them, or the held-out set would measure
# recall of trained words rather than generalisation.
HELDOUT_ONLY_WORDS = {"tearful", "gloomy", "upset", "bleak", "jittery", "dreading", "stressing", "scared",
                      "annoys", "irritated", "rope", "boil", "resentful", "livid", "rage", "ashamed",
                      "conscience", "regret", "isolated", "drained", "wiped", "sluggish", "serene",
                      "thrilled", "wonderful", "delighted"}


HELDOUT_STEMS = {"tear", "gloom", "upset", "bleak", "jitter", "dread", "stress", "scare", "annoy", "irritat",
                 "rope", "boil", "resent", "livid", "rage", "enrag", "asham", "shame", "conscience", "regret",
                 "isolat", "drain", "wipe", "sluggish", "seren", "thrill", "wonder", "delight", "settle",
                 "responsib", "sick", "empty", "flat", "leaves"}


def check_families_disjoint():
    a_clauses = {c for pool in EMOTIONS_A.values() for c in pool}
    b_clauses = {c for pool in EMOTIONS_B.values() for c in pool}
    assert not a_clauses & b_clauses, a_clauses & b_clauses
    leaked = sorted(c for c in a_clauses if set(c.replace("'", " ").split()) & HELDOUT_ONLY_WORDS)
    assert not leaked, f"family A uses held-out feeling words: {leaked}"
    # The lexicon is held to stems: "annoyed" would teach family B's "annoys".
    lexicon = [w for pool in FEELING_WORDS_A.values() for w in pool] + FEEL_FRAMES_A + ADJECTIVE_FRAMES_A
    stemmed = sorted(w for w in lexicon
                     if any(t.startswith(stem) for t in w.replace("'", " ").replace("-", " ").split()
                            for stem in HELDOUT_STEMS))
    assert not stemmed, f"family A's lexicon shares a stem with family B's feeling words: {stemmed}"
    a_topics = {c for pool in TOPICS_A.values() for c, _ in pool}
    b_topics = {c for pool in TOPICS_B.values() for c, _ in pool}
    assert not a_topics & b_topics


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="examples/data/extraction", help="where dev/ and heldout/ go")
    ap.add_argument("--train", help="also write the training set (family A, its own seed) here")
    ap.add_argument("--train-size", type=int, default=240)
    a = ap.parse_args()
    check_families_disjoint()
    out = Path(a.out)
    make_set(out / "dev", "A", 24, seed=2)
    make_set(out / "heldout", "B", 30, seed=3)
    if a.train:
        make_set(Path(a.train), "A", a.train_size, seed=1)


if __name__ == "__main__":
    main()
