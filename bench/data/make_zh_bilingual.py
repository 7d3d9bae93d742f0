"""Write zh_bilingual.jsonl: the Chinese and cross-lingual retrieval set of docs/evaluation.md.

Passages were written for kbqa (five Chinese articles, three English ones) or taken from
data/llm-local-deployment.zh.txt; every question is in Chinese. Questions on the English articles
test cross-lingual retrieval (a Chinese question must find an English passage). Each article
also carries passages no question is about, as distractors. Run from the repository root:

    python bench/data/make_zh_bilingual.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = HERE.parents[1] / "data" / "llm-local-deployment.zh.txt"

# article -> [(passage, [(question, [answers])])]
ARTICLES: dict[str, list[tuple[str, list[tuple[str, list[str]]]]]] = {
    "长城": [
        (
            "长城是中国古代为抵御北方游牧民族侵扰而修建的大规模军事防御工程。明长城东起河北山海关,"
            "西至甘肃嘉峪关,绵延于中国北方的群山、草原和沙漠之间。人们常说的“万里长城”多指明代修建的长城。",
            [
                ("明长城的东端起点是哪里？", ["山海关"]),
                ("明长城向西一直修到哪个关口？", ["嘉峪关"]),
            ],
        ),
        (
            "长城的修建始于春秋战国时期,各诸侯国为了互相防御,纷纷修筑城墙。公元前221年秦始皇统一六国后,"
            "派大将蒙恬率军把原来秦、赵、燕三国的北方长城连接起来,形成了第一道“万里长城”。",
            [
                ("秦始皇派哪位将军把各国长城连接起来？", ["蒙恬"]),
                ("秦始皇在哪一年统一了六国？", ["公元前221年"]),
            ],
        ),
        (
            "明朝是修筑长城规模最大的朝代。为了防御蒙古南下,明朝前后用了大约两百年时间修缮和新建长城。"
            "2009年公布的测量结果显示,明长城总长度为8851.8公里,其中人工墙体约6259.6公里。",
            [
                ("明长城的总长度是多少？", ["8851.8公里"]),
                ("哪个朝代修筑长城的规模最大？", ["明朝"]),
            ],
        ),
        (
            "长城并不只是一道城墙,而是由墙体、敌楼、关隘和烽火台组成的防御体系。守军白天点燃狼粪冒出浓烟,"
            "夜晚举火,可以在几个小时内把敌情传到数百公里之外。",
            [("长城守军白天燃烧什么来报警？", ["狼粪"])],
        ),
        (
            "1987年,长城被联合国教科文组织列入《世界遗产名录》。今天,北京的八达岭、慕田峪和金山岭是最受游客"
            "欢迎的长城段落,其中八达岭长城每年接待游客近千万人次。",
            [
                ("长城是哪一年被列入世界遗产名录的？", ["1987年"]),
                ("哪一段长城每年接待近千万游客？", ["八达岭"]),
            ],
        ),
        (
            "长城沿线的气候差异很大:东段靠近渤海,夏季湿润多雨;西段深入河西走廊和戈壁,常年干旱少雨,"
            "许多墙体是用夯土和芦苇、红柳枝层层叠压筑成的。",
            [],
        ),
    ],
    "大熊猫": [
        (
            "大熊猫是中国特有的哺乳动物,主要生活在四川、陕西和甘肃三省的山区竹林中。它们体型肥硕,头圆尾短,"
            "毛色黑白相间,被誉为“中国国宝”。",
            [("野生大熊猫分布在哪三个省？", ["四川、陕西和甘肃"])],
        ),
        (
            "大熊猫属于食肉目,却几乎只吃竹子,竹子占其食物的99%以上。由于竹子的营养价值低,一只成年大熊猫"
            "每天要花十几个小时进食,吃掉12到38公斤竹子。",
            [
                ("一只成年大熊猫每天要吃多少公斤竹子？", ["12到38公斤"]),
                ("竹子在大熊猫食物中占多大比例？", ["99%以上"]),
            ],
        ),
        (
            "大熊猫的繁殖能力很低。雌性大熊猫每年只有一次发情期,只持续两三天。刚出生的熊猫幼崽体重只有100克"
            "左右,约为母亲体重的千分之一。",
            [("刚出生的大熊猫幼崽有多重？", ["100克左右", "100克"])],
        ),
        (
            "第四次全国大熊猫调查显示,野生大熊猫数量为1864只。2016年,世界自然保护联盟把大熊猫的受威胁等级"
            "从“濒危”降为“易危”。",
            [
                ("野生大熊猫一共有多少只？", ["1864只"]),
                ("2016年大熊猫的受威胁等级被调整为什么？", ["易危"]),
            ],
        ),
        (
            "成都大熊猫繁育研究基地成立于1987年,是世界著名的大熊猫迁地保护基地。中国还通过“熊猫外交”把大熊猫"
            "借给其他国家的动物园,作为友好的象征。",
            [("中国把大熊猫借给别国作为友好象征,这被称为什么？", ["熊猫外交"])],
        ),
        (
            "大熊猫的前掌除了五个带爪的指头外,还有一个由腕骨特化而成的“伪拇指”,可以像人手一样握住竹竿。",
            [],
        ),
    ],
    "长江": [
        (
            "长江是中国第一长河,全长约6300公里,仅次于非洲的尼罗河和南美洲的亚马孙河,位居世界第三。"
            "它发源于青藏高原唐古拉山脉主峰各拉丹冬雪山的西南侧。",
            [
                ("长江全长大约多少公里？", ["6300公里", "约6300公里"]),
                ("长江发源于哪座雪山？", ["各拉丹冬"]),
            ],
        ),
        (
            "长江干流流经青海、西藏、四川、云南、重庆、湖北、湖南、江西、安徽、江苏和上海共11个省级行政区,"
            "最后在上海注入东海。",
            [("长江最后在哪里注入东海？", ["上海"]), ("长江干流流经多少个省级行政区？", ["11个"])],
        ),
        (
            "长江三峡是瞿塘峡、巫峡和西陵峡的总称,西起重庆奉节的白帝城,东至湖北宜昌的南津关,全长约193公里。",
            [
                ("长江三峡指的是哪三个峡谷？", ["瞿塘峡、巫峡和西陵峡"]),
                ("三峡全长多少公里？", ["193公里", "约193公里"]),
            ],
        ),
        (
            "三峡大坝位于湖北宜昌三斗坪,2006年主体工程完工。三峡水电站是世界上装机容量最大的水电站,"
            "总装机容量为2250万千瓦。",
            [
                ("三峡水电站的总装机容量是多少？", ["2250万千瓦"]),
                ("三峡大坝的主体工程哪一年完工？", ["2006年"]),
            ],
        ),
        (
            "长江流域面积约180万平方公里,约占中国陆地面积的五分之一。长江中下游平原河湖密布,是中国重要的"
            "粮食产区,被称为“鱼米之乡”。",
            [("长江中下游平原被称为什么？", ["鱼米之乡"])],
        ),
        (
            "长江中的白鱀豚曾被称为“长江女神”。2006年的考察没有发现一头白鱀豚,它随后被宣布功能性灭绝。",
            [],
        ),
    ],
    "中国茶": [
        (
            "中国是茶的故乡,饮茶的历史可以追溯到数千年前。唐代陆羽写成世界上第一部茶学专著《茶经》,"
            "他因此被后人尊为“茶圣”。",
            [
                ("世界上第一部茶学专著是哪本书？", ["《茶经》", "茶经"]),
                ("被尊为“茶圣”的是谁？", ["陆羽"]),
            ],
        ),
        (
            "按照加工方法,中国茶通常分为绿茶、白茶、黄茶、青茶(乌龙茶)、红茶和黑茶六大类。绿茶不经过发酵,"
            "红茶则是全发酵茶。",
            [("哪一类茶是全发酵茶？", ["红茶"])],
        ),
        (
            "西湖龙井产于浙江杭州西湖一带,是中国最著名的绿茶之一,以“色绿、香郁、味甘、形美”四绝著称。",
            [("西湖龙井产自哪个城市？", ["杭州"])],
        ),
        (
            "普洱茶产于云南,以云南大叶种晒青毛茶为原料。普洱熟茶经过渥堆发酵,茶汤红浓,可以长期存放,越陈越香。",
            [
                ("普洱茶产于哪个省？", ["云南"]),
                ("普洱熟茶是经过什么工艺发酵的？", ["渥堆发酵", "渥堆"]),
            ],
        ),
        (
            "茶叶经丝绸之路和茶马古道传到西亚和欧洲。十七世纪,荷兰东印度公司把中国茶叶运到欧洲,"
            "饮茶之风随后在英国盛行。",
            [("十七世纪把中国茶叶运到欧洲的是哪家公司？", ["荷兰东印度公司"])],
        ),
        ("泡绿茶的水温一般在八十度左右,水太烫会把嫩芽烫熟,使茶汤发苦。", []),
    ],
    "二十四节气": [
        (
            "二十四节气是中国古代订立的一种用来指导农事的补充历法,根据太阳在黄道上的位置把一年分成二十四段。"
            "2016年11月,二十四节气被列入联合国教科文组织人类非物质文化遗产代表作名录。",
            [
                (
                    "二十四节气是哪一年被列入人类非物质文化遗产代表作名录的？",
                    ["2016年", "2016年11月"],
                )
            ],
        ),
        (
            "二十四节气以立春开始,依次为立春、雨水、惊蛰、春分、清明、谷雨等,到大寒结束,每个节气大约相隔15天。",
            [
                ("二十四节气中的第一个节气是什么？", ["立春"]),
                ("相邻两个节气大约相隔几天？", ["15天"]),
            ],
        ),
        (
            "冬至这一天北半球白昼最短、黑夜最长。在中国北方,冬至有吃饺子的习俗,南方一些地区则吃汤圆。",
            [("中国北方冬至有吃什么的习俗？", ["饺子"]), ("哪一天北半球的白天最短？", ["冬至"])],
        ),
        (
            "清明既是节气也是传统节日,人们在这一天扫墓祭祖、踏青郊游。",
            [("清明节人们通常做什么？", ["扫墓祭祖"])],
        ),
    ],
    "Honeybee": [
        (
            "The western honey bee lives in colonies of up to 60,000 workers with a single queen. Worker bees"
            " are sterile females; the males, called drones, exist only to mate with a queen.",
            [
                ("一个蜂群最多可以有多少只工蜂？", ["60,000"]),
                ("蜜蜂中的雄蜂英文叫什么？", ["drones"]),
            ],
        ),
        (
            "Honey bees tell each other where flowers are with the waggle dance. The angle of the dance"
            " relative to vertical gives the direction of the food relative to the sun, and its duration"
            " gives the distance. Karl von Frisch won the Nobel Prize in 1973 for decoding it.",
            [
                ("蜜蜂用哪种舞蹈告诉同伴花在哪里？", ["waggle dance"]),
                ("谁因破解蜜蜂的舞蹈获得了诺贝尔奖？", ["Karl von Frisch"]),
            ],
        ),
        (
            "To make one kilogram of honey, bees visit around four million flowers. Nectar is stored in wax"
            " cells and fanned by the bees' wings until its water content falls below about 18 percent.",
            [
                ("酿一公斤蜂蜜,蜜蜂要采访大约多少朵花？", ["four million"]),
                ("花蜜的含水量要降到多少以下才成为蜂蜜？", ["18 percent"]),
            ],
        ),
        (
            "Since 2006, beekeepers in North America and Europe have reported colony collapse disorder, in"
            " which most worker bees of a hive suddenly disappear. Neonicotinoid pesticides, the varroa mite"
            " and poor nutrition are the main suspected causes.",
            [("蜂巢里的工蜂突然大量消失,这种现象叫什么？", ["colony collapse disorder"])],
        ),
        (
            "Bees build their combs from wax that young workers secrete from glands on their abdomen. The"
            " hexagonal cells hold the most honey for the least wax.",
            [],
        ),
    ],
    "Lighthouse": [
        (
            "The Pharos of Alexandria, built around 280 BC on an island off the Egyptian coast, was one of"
            " the Seven Wonders of the Ancient World. It stood over 100 metres tall and was destroyed by"
            " earthquakes in the 14th century.",
            [
                ("亚历山大灯塔大约建于哪一年？", ["280 BC"]),
                ("亚历山大灯塔最终毁于什么？", ["earthquakes"]),
            ],
        ),
        (
            "In 1822 the French physicist Augustin Fresnel invented a lens made of concentric rings of glass"
            " prisms. The Fresnel lens let a small lamp be seen more than 30 kilometres out at sea and was"
            " soon fitted to lighthouses worldwide.",
            [
                ("哪位物理学家发明了灯塔用的透镜？", ["Augustin Fresnel"]),
                ("装了这种透镜的灯在海上多远能被看到？", ["more than 30 kilometres"]),
            ],
        ),
        (
            "Each lighthouse flashes in its own pattern, called its characteristic, so that sailors can tell"
            " one light from another at night. The pattern is printed on nautical charts, for example"
            " Fl(2) 10s for two flashes every ten seconds.",
            [("每座灯塔特有的闪光规律被称为什么？", ["characteristic"])],
        ),
        (
            "The last lighthouse keepers in the United Kingdom left North Foreland lighthouse in Kent in"
            " 1998, when it became the final British lighthouse to be automated.",
            [
                ("英国最后一座实现自动化的灯塔叫什么？", ["North Foreland"]),
                ("英国最后的灯塔看守人是哪一年离开的？", ["1998"]),
            ],
        ),
    ],
    "Rhine": [
        (
            "The Rhine rises in the Swiss Alps and flows about 1,230 kilometres to the North Sea, passing"
            " through Switzerland, Liechtenstein, Austria, Germany, France and the Netherlands.",
            [
                ("莱茵河全长大约多少公里？", ["1,230 kilometres"]),
                ("莱茵河最终流入哪片海？", ["North Sea"]),
            ],
        ),
        (
            "At Schaffhausen the river drops over the Rhine Falls, the largest waterfall in Europe by flow,"
            " 23 metres high and 150 metres wide.",
            [("欧洲流量最大的瀑布叫什么？", ["Rhine Falls"]), ("莱茵瀑布有多高？", ["23 metres"])],
        ),
        (
            "The Lorelei is a slate rock on the eastern bank of the Rhine near Sankt Goarshausen. In legend a"
            " siren sat on the rock and lured boatmen to their death with her song; Heinrich Heine's poem of"
            " 1824 made the story famous.",
            [("哪位诗人的诗让罗蕾莱的传说出了名？", ["Heinrich Heine"])],
        ),
        (
            "Rotterdam, near the mouth of the Rhine, is the largest seaport in Europe. Barges carry coal,"
            " grain and containers upstream as far as Basel.",
            [
                ("欧洲最大的海港是哪座城市？", ["Rotterdam"]),
                ("驳船沿莱茵河可以一直上行到哪座城市？", ["Basel"]),
            ],
        ),
    ],
}

# (lines of data/llm-local-deployment.zh.txt joined into one passage, questions)
SEED_PASSAGES: list[tuple[tuple[int, ...], list[tuple[str, list[str]]]]] = [
    ((5, 6), [("在哪些敏感领域把核心数据发给第三方 API 有泄露风险？", ["金融、医疗、法律"])]),
    ((7, 8), [("商业 API 通常按什么计费？", ["Token"])]),
    ((9, 10, 11), []),
    ((14, 15), [("全球最大的开源模型、数据集和代码库聚集地是什么？", ["Hugging Face Hub"])]),
    ((17, 18), []),
    ((19, 20, 21), [("llama.cpp 是用什么语言编写的？", ["C/C++"])]),
    ((22, 23), [("text-generation-webui 是基于什么构建的网页界面？", ["Gradio"])]),
    ((25, 26, 27), [("哪个框架被称为 LLM 应用开发的“瑞士军刀”？", ["LangChain"])]),
    ((28, 29), []),
    ((79,), [("文中举了哪些推理框架的例子？", ["vLLM", "Text Generation Inference"])]),
]
SEED_TITLE = "大语言模型的本地部署"


def records() -> list[dict[str, object]]:
    lines = SEED.read_text(encoding="utf-8").splitlines()
    articles = dict(ARTICLES)
    articles[SEED_TITLE] = [
        ("\n".join(lines[n - 1].strip() for n in numbers), questions)
        for numbers, questions in SEED_PASSAGES
    ]
    out: list[dict[str, object]] = []
    for article, passages in articles.items():
        for p, (passage, questions) in enumerate(passages, start=1):
            if not questions:
                out.append({"article": article, "context": passage})
            for q, (question, answers) in enumerate(questions, start=1):
                for answer in answers:  # every gold answer must lie in its passage
                    assert answer in passage, (article, question, answer)
                lang = "en" if passage.isascii() else "zh"
                out.append(
                    {
                        "id": f"{article}-{p}-{q}",
                        "question": question,
                        "answers": answers,
                        "article": article,
                        "context": passage,
                        "kind": f"zh->{lang}",
                    }
                )
    return out


if __name__ == "__main__":
    rows = records()
    target = HERE / "zh_bilingual.jsonl"
    target.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    asked = [r for r in rows if "question" in r]
    kinds = {k: sum(r["kind"] == k for r in asked) for k in ("zh->zh", "zh->en")}
    print(f"wrote {target}: {len(asked)} questions {kinds}, {len(rows) - len(asked)} passage lines")
